"""What in a log is unlike the normal logs a model knows: new and rare templates with counts, unusual lines.

`TemplateTally` sums the line parts of scored windows (`WindowResult.line_parts`, from the model's template index)
over a whole run, in bounded memory, for `logllm detect` (and `--baseline`) to print after its table, and for the
feedback benchmark to find the templates behind the most false alarms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MAX_TEMPLATES = 10_000  # distinct templates tallied per part; past it, counted as "more"


@dataclass
class _Entry:
    lines: int = 0
    windows: int = 0
    flagged_windows: int = 0
    false_alarms: int = 0
    example: str = ""
    where: str = ""


@dataclass
class TemplateTally:
    """Occurrences of each new / rare template and unusual line (by template), the windows holding them, the windows
    it flagged (its part is among the window's reasons) and, of those, the ones labelled normal (false alarms)."""

    parts: dict[str, dict[str, _Entry]] = field(default_factory=lambda: {
        "new template": {}, "rare template": {}, "unusual line": {}})
    overflow: dict[str, int] = field(default_factory=lambda: {"new template": 0, "rare template": 0, "unusual line": 0})

    def add(self, result: Any) -> None:
        parts, templates = result.line_parts, result.line_templates
        if not parts:
            return
        in_window: set[tuple[str, str]] = set()
        for i, part in enumerate(parts):
            if not part:
                continue
            template = templates[i] if templates and templates[i] else result.lines[i]
            table = self.parts[part]
            entry = table.get(template)
            if entry is None:
                if len(table) >= MAX_TEMPLATES:
                    self.overflow[part] += 1
                    continue
                number = result.line_numbers[i] if i < len(result.line_numbers) else i + 1
                entry = table[template] = _Entry(example=result.lines[i], where=f"{result.source}:{number}")
            entry.lines += 1
            if (part, template) not in in_window:
                in_window.add((part, template))
                entry.windows += 1
                flagged_by_it = bool(result.anomalous and part in (result.reason or "").split(" + "))
                entry.flagged_windows += flagged_by_it
                entry.false_alarms += flagged_by_it and result.label == 0

    def extend(self, results: Iterable[Any]) -> TemplateTally:
        for result in results:
            self.add(result)
        return self

    def top(self, part: str, n: int | None = None, key: str = "lines") -> list[tuple[str, _Entry]]:
        ranked = sorted(self.parts[part].items(), key=lambda kv: (-getattr(kv[1], key), kv[0]))
        return ranked if n is None else ranked[:n]

    def as_dict(self, n: int = 20) -> dict[str, Any]:
        return {part: {"templates": len(table), "lines": sum(e.lines for e in table.values()),
                       "top": [{"template": t, **vars(e)} for t, e in self.top(part, n)]}
                for part, table in self.parts.items()}

    def format(self, n: int = 10, width: int = 100) -> str:
        """Plain text: per part, how many templates and lines, then the most frequent with counts and an example."""
        out = []
        for part, table in self.parts.items():
            if not table:
                continue
            lines = sum(e.lines for e in table.values())
            more = f" (+{self.overflow[part]} more not tallied)" if self.overflow[part] else ""
            out.append(f"{part}: {len(table)} template(s){more}, {lines} line(s)")
            for template, entry in self.top(part, n):
                shown = template if len(template) <= width else template[: width - 3] + "..."
                out.append(f"  {entry.lines:>7} x in {entry.windows:>5} window(s)  {shown}")
                out.append(f"  {'':>7}   e.g. {entry.where}")
            if len(table) > n:
                out.append(f"  ... and {len(table) - n} more")
        if not out:
            return "Nothing unlike the known logs: no new or rare template, no unusual line."
        return "\n".join(["What is unlike the known logs (accept a template with `logllm accept --template ...`):", *out])


__all__ = ["MAX_TEMPLATES", "TemplateTally"]
