"""The template index: which kinds of line a model's normal logs hold, and how often; and the operator's ledger.

On unseen kinds of failure, the plain rule "this window holds a line of a template never seen in the normal
training windows" beats the decoder and the embedding distance by far (bench/results/generalization.md), so a model
folder carries that knowledge next to its weights, in `template_index.json`:

- `lines`: the distinct masked lines (the model's text) of the normal windows with their counts, at most
  `max_lines` of them (the ones past the cap are counted, and still counted by their template);
- `templates`: the Drain templates mined from those lines (drain3, the settings of the `new_drain_template`
  baseline), with their counts, at most `max_templates` (the most frequent kept; the rest counted).

A line of model text is then a *new template* (matches no template and no known line), a *rare template* (its
template was seen fewer than `rare_below` times) or known. Matching a template is Drain's own exact match: the same
number of tokens, each token equal or a `<*>` of the template.

The ledger (`accepted.json`, beside it) holds what an operator accepted as normal without retraining: masked lines
and templates, each with when, a note and an optional expiry. Accepted lines count as known, whatever their
template or embedding. Both files name the model they belong to (`model_id`, also in `config.template_index`), so a
file copied from another model is refused by name.

Shipped next to the model (the modeling file imports it): standard library only, drain3 only to build an index.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEMPLATE_INDEX_FILE = "template_index.json"
LEDGER_FILE = "accepted.json"
INDEX_FORMAT = "logllm-template-index"
LEDGER_FORMAT = "logllm-accepted"
WILDCARD = "<*>"
DEFAULT_MAX_LINES = 100_000
DEFAULT_MAX_TEMPLATES = 20_000
DEFAULT_RARE_BELOW = 3
PARTS = ("new template", "rare template", "unusual line")


class TemplateIndexError(ValueError):
    """A template index or ledger file that cannot be used (corrupt, of another model); the message names it."""


def tokens_of(text: str) -> list[str]:
    """Drain's tokens of a line (whitespace split, as drain3 with no extra delimiters)."""
    return text.split()


def template_matches(template: str | Sequence[str], line: str | Sequence[str]) -> bool:
    """Drain's exact match: as many tokens, each equal or a `<*>` of the template."""
    t = tokens_of(template) if isinstance(template, str) else template
    words = tokens_of(line) if isinstance(line, str) else line
    return len(t) == len(words) and all(a == WILDCARD or a == b for a, b in zip(t, words))


class _TemplateMatcher:
    """Templates bucketed by (token count, first token) so a line is compared with a few candidates only."""

    def __init__(self, templates: dict[str, int]) -> None:
        self.buckets: dict[tuple[int, str | None], list[tuple[list[str], str]]] = {}
        for text in templates:
            t = tokens_of(text)
            key = (len(t), None if not t or t[0] == WILDCARD else t[0])
            self.buckets.setdefault(key, []).append((t, text))

    def matches(self, line: str) -> list[str]:
        words = tokens_of(line)
        first = words[0] if words else None
        found = []
        for key in ((len(words), first), (len(words), None)) if first is not None else ((0, None),):
            for t, text in self.buckets.get(key, ()):
                if template_matches(t, words):
                    found.append(text)
        return found


@dataclass
class LedgerEntry:
    """One accepted line or template: `kind` "line" (exact masked line) or "template" (Drain-style, `<*>`)."""

    id: int
    kind: str
    text: str
    added: float
    until: float | None = None
    note: str | None = None
    source: str | None = None

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "text": self.text, "added": _iso(self.added),
                "until": None if self.until is None else _iso(self.until), "note": self.note, "source": self.source}


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def parse_time(text: str) -> float:
    """Seconds since the epoch of an ISO date or date-time (`2026-12-31`, `2026-12-31T08:00`, `...Z`; UTC unless
    an offset is given)."""
    from datetime import datetime, timezone

    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise ValueError(f"{text!r} is not a date (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z])") from err
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def read_ledger(path: str | Path, model_id: str | None) -> list[LedgerEntry]:
    """The entries of a ledger file ([] when there is none); a corrupt ledger or one of another model raises
    `TemplateIndexError` naming the file."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, json.JSONDecodeError) as err:
        raise TemplateIndexError(f"{path}: not a readable ledger of accepted lines ({err})") from err
    if not isinstance(data, dict) or data.get("format") != LEDGER_FORMAT or not isinstance(data.get("entries"), list):
        raise TemplateIndexError(f"{path}: not a logllm ledger of accepted lines (expected format {LEDGER_FORMAT!r})")
    if model_id is not None and data.get("model_id") != model_id:
        raise TemplateIndexError(f"{path}: this ledger belongs to another model (model_id {data.get('model_id')!r}; "
                                 f"this model's is {model_id!r}); remove it or use it with its own model")
    entries = []
    for i, row in enumerate(data["entries"]):
        try:
            entries.append(LedgerEntry(
                id=int(row["id"]), kind=str(row["kind"]), text=str(row["text"]), added=parse_time(row["added"]),
                until=None if row.get("until") is None else parse_time(row["until"]), note=row.get("note"),
                source=row.get("source"),
            ))
        except (KeyError, TypeError, ValueError) as err:
            raise TemplateIndexError(f"{path}: entry {i + 1} is not a valid accepted line ({err})") from err
        if entries[-1].kind not in ("line", "template"):
            raise TemplateIndexError(f"{path}: entry {i + 1} has kind {entries[-1].kind!r} (expected line or template)")
    return entries


@dataclass
class TemplateIndex:
    """Masked lines and Drain templates of a model's normal logs with their counts (see the module docstring).

    Args:
        lines (`dict[str, int]`): distinct masked lines -> occurrences.
        templates (`dict[str, int]`): Drain templates -> occurrences of their lines.
        model_id (`str`, *optional*): the model this index belongs to (a new one when omitted).
        rare_below (`int`, *optional*, defaults to 3): a template seen fewer times than this is *rare*.
        facts (`dict`): what went in (lines read, distinct, left out, time span, ...), for reports and cards.
    """

    lines: dict[str, int]
    templates: dict[str, int]
    model_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    rare_below: int = DEFAULT_RARE_BELOW
    facts: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None  # where it was loaded from (its ledger is read there)

    def __post_init__(self) -> None:
        self._matcher = _TemplateMatcher(self.templates)
        self._memo: OrderedDict[str, tuple[str | None, int | None]] = OrderedDict()
        self._accepted_lines: set[str] = set()
        self._accepted_templates = _TemplateMatcher({})
        self.ledger: list[LedgerEntry] = []
        self._ledger_stamp: tuple | None = None
        self._next_expiry = math.inf

    # ------------------------------------------------------------------ lookups
    def lookup(self, line: str) -> tuple[str | None, int | None]:
        """(template, count) of a masked line: the most frequent matching template (or the line itself when only
        the line is known), and how often it was seen; (None, None) for a new template."""
        hit = self._memo.get(line)
        if hit is not None:
            self._memo.move_to_end(line)
            return hit
        matches = self._matcher.matches(line)
        if matches:
            best = max(matches, key=lambda t: self.templates[t])
            found = (best, max(self.templates[best], self.lines.get(line, 0)))
        elif line in self.lines:
            found = (line, self.lines[line])
        else:
            found = (None, None)
        self._memo[line] = found
        if len(self._memo) > 200_000:
            self._memo.popitem(last=False)
        return found

    def accepted(self, line: str) -> bool:
        """Whether the ledger accepts this masked line as normal (an active entry for it or its template)."""
        return line in self._accepted_lines or bool(self._accepted_templates.matches(line))

    def part(self, line: str) -> str | None:
        """"new template", "rare template" or None (known or accepted) for a masked line."""
        if self._accepted_lines or self._accepted_templates.buckets:
            if self.accepted(line):
                return None
        template, count = self.lookup(line)
        if template is None:
            return "new template"
        if count < self.rare_below:
            return "rare template"
        return None

    def template_of(self, line: str) -> str:
        """The template to show (and accept) for a line: its known template, else the masked line itself."""
        template, _ = self.lookup(line)
        return template or line

    # ------------------------------------------------------------------ ledger
    def apply_ledger(self, entries: Iterable[LedgerEntry], now: float | None = None) -> int:
        """Treat the active entries as normal (expired ones are kept in the ledger, not applied); returns how many
        are active."""
        now = time.time() if now is None else now
        self.ledger = list(entries)
        active = [e for e in self.ledger if e.active(now)]
        self._accepted_lines = {e.text for e in active if e.kind == "line"}
        self._accepted_templates = _TemplateMatcher({e.text: 1 for e in active if e.kind == "template"})
        self._next_expiry = min((e.until for e in active if e.until is not None), default=math.inf)
        return len(active)

    def refresh_ledger(self, now: float | None = None) -> bool:
        """Re-read `folder/accepted.json` when it changed (or an entry expired since); True when it was re-applied.
        Cheap enough to call before every batch (one `stat`)."""
        if self.folder is None:
            return False
        now = time.time() if now is None else now
        path = self.folder / LEDGER_FILE
        try:
            info = path.stat()
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        except OSError:
            stamp = None
        if stamp == self._ledger_stamp and now < self._next_expiry:
            return False
        entries = read_ledger(path, self.model_id) if stamp is not None else []
        self._ledger_stamp = stamp
        self.apply_ledger(entries, now)
        return True

    # ------------------------------------------------------------------ facts
    def describe(self) -> str:
        f = self.facts
        left = f.get("distinct_lines_left_out", 0)
        extra = f" ({left:,} distinct lines past the cap counted by template only)" if left else ""
        dropped = f.get("templates_left_out", 0)
        extra += f", {dropped:,} rare templates left out (max_templates)" if dropped else ""
        return (f"template index: {len(self.templates):,} Drain templates and {len(self.lines):,} distinct masked "
                f"lines from {f.get('lines_read', sum(self.lines.values())):,} normal lines{extra}")

    def config_entry(self) -> dict[str, Any]:
        """What `config.template_index` records (the file, the model id, sizes, the rare limit)."""
        return {"file": TEMPLATE_INDEX_FILE, "model_id": self.model_id, "lines": len(self.lines),
                "templates": len(self.templates), "rare_below": self.rare_below}

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        return {"format": INDEX_FORMAT, "version": 1, "model_id": self.model_id, "rare_below": self.rare_below,
                "facts": self.facts,
                "templates": sorted(self.templates.items(), key=lambda kv: (-kv[1], kv[0])),
                "lines": sorted(self.lines.items(), key=lambda kv: (-kv[1], kv[0]))}

    def save(self, folder: str | Path) -> Path:
        """Write `folder/template_index.json` (next to it, then renamed: complete or untouched)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / TEMPLATE_INDEX_FILE
        fd, tmp = tempfile.mkstemp(prefix=f".{TEMPLATE_INDEX_FILE}.", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.to_dict(), handle, ensure_ascii=False)
                handle.flush()
                os.fsync(handle.fileno())
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        ledger = self.folder / LEDGER_FILE if self.folder is not None else None
        if ledger is not None and ledger.is_file() and ledger.resolve() != (folder / LEDGER_FILE).resolve():
            import shutil

            shutil.copyfile(ledger, folder / LEDGER_FILE)  # the ledger travels with its index (same model id)
        return target

    @classmethod
    def from_file(cls, path: str | Path, model_id: str | None = None) -> TemplateIndex:
        """Read a `template_index.json`; `model_id`: the id the model's config names (a file of another model is
        refused). Errors name the file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeError, json.JSONDecodeError) as err:
            raise TemplateIndexError(f"{path}: not a readable template index ({type(err).__name__}: {err}); "
                                     "copy the model folder again") from err
        if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
            raise TemplateIndexError(f"{path}: not a logllm template index (expected format {INDEX_FORMAT!r})")
        if model_id is not None and data.get("model_id") != model_id:
            raise TemplateIndexError(f"{path}: this template index belongs to another model (model_id "
                                     f"{data.get('model_id')!r}; config.json names {model_id!r})")
        try:
            lines = {str(k): int(v) for k, v in data["lines"]}
            templates = {str(k): int(v) for k, v in data["templates"]}
            index = cls(lines, templates, model_id=str(data["model_id"]), rare_below=int(data.get("rare_below", 3)),
                        facts=dict(data.get("facts") or {}))
        except (KeyError, TypeError, ValueError) as err:
            raise TemplateIndexError(f"{path}: template index is malformed ({type(err).__name__}: {err})") from err
        return index


def load_template_index(name_or_path: str | os.PathLike, config: Any, **hub_kwargs: Any) -> TemplateIndex | None:
    """The template index a saved model carries (None when its config names none), with its ledger applied.

    A folder's ledger is re-read when it changes (`TemplateIndex.refresh_ledger`); on the Hub only the index is
    fetched (a ledger is a local, per-deployment thing).
    """
    entry = getattr(config, "template_index", None)
    if not entry:
        return None
    model_id = entry.get("model_id") if isinstance(entry, dict) else None
    file_name = (entry.get("file") if isinstance(entry, dict) else None) or TEMPLATE_INDEX_FILE
    folder = Path(name_or_path)
    if folder.is_dir():
        path = folder / file_name
        if not path.is_file():
            raise TemplateIndexError(f"{path}: missing (config.json says the model has a template index); copy the "
                                     "model folder again")
    else:
        from transformers.utils import cached_file

        path = Path(cached_file(str(name_or_path), file_name, **hub_kwargs))
        folder = None
    index = TemplateIndex.from_file(path, model_id)
    if folder is not None:
        index.folder = folder
        index.refresh_ledger()
    return index


# ---------------------------------------------------------------------------------------------------------- building
@dataclass
class TemplateIndexBuilder:
    """Builds a `TemplateIndex` from a stream of masked lines in bounded memory.

    Each distinct line goes through Drain once; repeats only add to counts. Past `max_lines` distinct lines, new ones
    still count towards their template (a bounded memo remembers their cluster) but are not kept as lines. Drain
    holds at most 4 x `max_templates` clusters (it forgets the least recently matched), and the index keeps the
    `max_templates` most frequent. Everything left out is counted in `facts`.
    """

    max_lines: int = DEFAULT_MAX_LINES
    max_templates: int = DEFAULT_MAX_TEMPLATES
    rare_below: int = DEFAULT_RARE_BELOW
    sim_th: float = 0.4
    depth: int = 4

    def __post_init__(self) -> None:
        from drain3 import TemplateMiner
        from drain3.template_miner_config import TemplateMinerConfig

        if self.max_lines < 1 or self.max_templates < 1:
            raise ValueError("max_lines and max_templates must be >= 1")
        config = TemplateMinerConfig()
        config.drain_sim_th, config.drain_depth, config.profiling_enabled = self.sim_th, self.depth, False
        config.drain_max_clusters = 4 * self.max_templates  # bounded memory: past it Drain forgets the least recent
        self._miner = TemplateMiner(config=config)
        self._lines: dict[str, list[int]] = {}  # line -> [count, cluster id]
        self._overflow: OrderedDict[str, int] = OrderedDict()  # lines past the cap -> cluster id (bounded memo)
        self._overflow_seen = 0
        self._cluster_counts: dict[int, int] = {}
        self.lines_read = 0
        self.first_time: float | None = None
        self.last_time: float | None = None

    def _cluster(self, line: str) -> int:
        return int(self._miner.add_log_message(line)["cluster_id"])

    def add(self, line: str, count: int = 1) -> None:
        self.lines_read += count
        known = self._lines.get(line)
        if known is not None:
            known[0] += count
            cid = known[1]
        elif len(self._lines) < self.max_lines:
            cid = self._cluster(line)
            self._lines[line] = [count, cid]
        else:
            cid = self._overflow.get(line)
            if cid is None:
                cid = self._cluster(line)
                self._overflow_seen += 1
                self._overflow[line] = cid
                if len(self._overflow) > 50_000:
                    self._overflow.popitem(last=False)
            else:
                self._overflow.move_to_end(line)
        self._cluster_counts[cid] = self._cluster_counts.get(cid, 0) + count

    def add_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.add(line)

    def note_time(self, start: float | None, end: float | None) -> None:
        """Widen the time span of what was learned (window start/end times, seconds since the epoch)."""
        for value in (start, end):
            if value is None:
                continue
            self.first_time = value if self.first_time is None else min(self.first_time, value)
            self.last_time = value if self.last_time is None else max(self.last_time, value)

    @property
    def distinct_lines(self) -> int:
        return len(self._lines)

    def kept_lines(self) -> dict[str, int]:
        return {line: value[0] for line, value in self._lines.items()}

    def representatives(self, per_template: int) -> list[str]:
        """Up to `per_template` of the most frequent kept lines of each Drain cluster, most frequent clusters first:
        what an embedding index needs to cover every kind of line without encoding every variant."""
        by_cluster: dict[int, list[tuple[int, str]]] = {}
        for line, (count, cid) in self._lines.items():
            by_cluster.setdefault(cid, []).append((count, line))
        ranked = sorted(by_cluster.values(), key=lambda rows: -sum(c for c, _ in rows))
        return [line for rows in ranked for _, line in sorted(rows, key=lambda r: (-r[0], r[1]))[:per_template]]

    def build(self, model_id: str | None = None) -> TemplateIndex:
        templates: dict[str, int] = {}
        for cluster in self._miner.drain.clusters:
            text = cluster.get_template()
            templates[text] = templates.get(text, 0) + self._cluster_counts.get(cluster.cluster_id, 0)
        left_out = max(0, len(self._cluster_counts) - len(self._miner.drain.clusters))  # forgotten by Drain
        if len(templates) > self.max_templates:
            ranked = sorted(templates.items(), key=lambda kv: (-kv[1], kv[0]))
            left_out += len(ranked) - self.max_templates
            templates = dict(ranked[: self.max_templates])
        facts = {
            "lines_read": self.lines_read,
            "distinct_lines": len(self._lines) + self._overflow_seen,
            "distinct_lines_kept": len(self._lines),
            "distinct_lines_left_out": self._overflow_seen,
            "templates": len(templates),
            "templates_left_out": left_out,
            "max_lines": self.max_lines,
            "max_templates": self.max_templates,
            "drain": {"sim_th": self.sim_th, "depth": self.depth},
            "first_time": None if self.first_time is None else _iso(self.first_time),
            "last_time": None if self.last_time is None else _iso(self.last_time),
        }
        kwargs = {"model_id": model_id} if model_id else {}
        return TemplateIndex(self.kept_lines(), templates, rare_below=self.rare_below, facts=facts, **kwargs)


__all__ = ["DEFAULT_MAX_LINES", "DEFAULT_MAX_TEMPLATES", "DEFAULT_RARE_BELOW", "LEDGER_FILE", "LedgerEntry", "PARTS",
           "TEMPLATE_INDEX_FILE", "TemplateIndex", "TemplateIndexBuilder", "TemplateIndexError", "load_template_index",
           "parse_time", "read_ledger", "template_matches", "tokens_of"]
