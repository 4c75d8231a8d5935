"""'Accept as normal' without retraining: the ledger of a model folder (`accepted.json`).

An operator who sees a false alarm accepts its template (or a single line): the entry goes into the ledger beside
the weights, and `detect`, `watch` (which re-reads the ledger when it changes), `serve` and `AutoModel` treat
matching lines as normal from then on (`TemplateIndex.apply_ledger`). Each entry says what, when, why (a note) and
until when; expired entries stay listed but no longer apply. The ledger names its model (`model_id`), is written
atomically (`logllm.atomic.atomic_file`: a crash mid-write leaves the previous ledger), and can be listed and undone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from logllm.logs.errors import DetectionInputError
from logllm.modeling.templates_logllm import (
    LEDGER_FILE,
    LEDGER_FORMAT,
    TEMPLATE_INDEX_FILE,
    WILDCARD,
    LedgerEntry,
    TemplateIndexError,
    read_ledger,
    tokens_of,
)

TEMPLATE_PARTS = ("new template", "rare template", "unusual line")


def model_id_of(folder: str | Path) -> str:
    """The model id a folder's config.json gives its template index; a folder without one is refused by name."""
    folder = Path(folder)
    config = folder / "config.json"
    if not config.is_file():
        raise DetectionInputError(f"{folder}: not a saved model folder (no config.json); --model wants a local folder")
    try:
        entry = json.loads(config.read_text(encoding="utf-8")).get("template_index")
    except (OSError, UnicodeError, json.JSONDecodeError) as err:
        raise DetectionInputError(f"{config}: not readable JSON ({err})") from err
    if not isinstance(entry, dict) or not entry.get("model_id"):
        raise DetectionInputError(f"{folder}: the model has no template index ({TEMPLATE_INDEX_FILE}), so there is "
                                  "nothing to accept lines into; make one with `logllm learn` or `logllm train`")
    if not (folder / (entry.get("file") or TEMPLATE_INDEX_FILE)).is_file():
        raise DetectionInputError(f"{folder / TEMPLATE_INDEX_FILE}: missing (config.json names a template index)")
    return str(entry["model_id"])


def check_template(text: str) -> str:
    """A template an operator may accept: not blank, at least one literal token (all-`<*>` would accept every line of
    that length)."""
    text = " ".join(tokens_of(text))
    if not text:
        raise DetectionInputError("the template is empty: give the text of a template or line (e.g. from a detect "
                                  "--output row's \"template\")")
    if all(token == WILDCARD for token in tokens_of(text)):
        raise DetectionInputError(f"template {text!r} has no literal word: it would accept every line with "
                                  f"{len(tokens_of(text))} words; give a template with at least one fixed word")
    return text


class Ledger:
    """The accepted lines and templates of one model folder."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.model_id = model_id_of(self.folder)
        self.path = self.folder / LEDGER_FILE
        try:
            self.entries: list[LedgerEntry] = read_ledger(self.path, self.model_id)
        except TemplateIndexError as err:
            raise DetectionInputError(str(err)) from err

    def add(self, kind: str, texts: Iterable[str], *, until: float | None = None, note: str | None = None,
            source: str | None = None, now: float | None = None) -> list[LedgerEntry]:
        """Append one entry per distinct text not already active (returns the new ones); not written yet."""
        now = time.time() if now is None else now
        if until is not None and until <= now:
            raise DetectionInputError(f"--until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(until))} is not in "
                                      "the future: the entry would never apply")
        active = {(e.kind, e.text) for e in self.entries if e.active(now)}
        added = []
        next_id = max((e.id for e in self.entries), default=0) + 1
        for text in dict.fromkeys(texts):
            if (kind, text) in active:
                continue
            added.append(LedgerEntry(id=next_id, kind=kind, text=text, added=now, until=until, note=note,
                                     source=source))
            next_id += 1
        self.entries.extend(added)
        return added

    def undo(self, ids: Iterable[int]) -> list[LedgerEntry]:
        """Remove entries by id; an id the ledger does not hold is an error naming the ids it holds."""
        wanted = list(ids)
        known = {e.id for e in self.entries}
        missing = [i for i in wanted if i not in known]
        if missing:
            held = ", ".join(str(e.id) for e in self.entries) or "none"
            raise DetectionInputError(f"{self.path}: no entry {', '.join(map(str, missing))} (entries: {held}); "
                                      "see `logllm accept --list`")
        removed = [e for e in self.entries if e.id in wanted]
        self.entries = [e for e in self.entries if e.id not in wanted]
        return removed

    def to_dict(self) -> dict[str, Any]:
        return {"format": LEDGER_FORMAT, "version": 1, "model_id": self.model_id,
                "entries": [e.to_dict() for e in self.entries]}

    def save(self) -> Path:
        """Write the ledger atomically: a crash mid-write leaves the previous one."""
        from logllm.atomic import atomic_file

        with atomic_file(self.path, encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=1, ensure_ascii=False)
            handle.write("\n")
        return self.path

    def format(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if not self.entries:
            return f"{self.path}: no accepted lines or templates"
        rows = [f"{'id':>4}  {'kind':<8} {'added':<20} {'until':<20} {'state':<8} text (note)"]
        for e in self.entries:
            d = e.to_dict()
            note = f"  ({e.note})" if e.note else ""
            rows.append(f"{e.id:>4}  {e.kind:<8} {d['added']:<20} {d['until'] or '-':<20} "
                        f"{'active' if e.active(now) else 'expired':<8} {e.text}{note}")
        return "\n".join(rows)


def texts_from_output(path: str | Path, windows: Iterable[str] = (), parts: Iterable[str] = TEMPLATE_PARTS
                      ) -> list[str]:
    """The templates of the suspicious lines of a `logllm detect --output` JSONL file (its flagged rows, or the
    rows of `windows`), for lines whose evidence is one of `parts`. Errors name the file and line."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        raise DetectionInputError(f"{path}: accept reads the .jsonl output of `logllm detect --output` (the CSV joins "
                                  "the suspicious lines into one cell); run detect with --output NAME.jsonl")
    wanted, parts = set(windows), set(parts)
    found, matched = [], set()
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as err:
        raise DetectionInputError(f"cannot read {path}: {err.strerror or err}") from None
    with handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
                window, flagged, lines = row["window_id"], row.get("anomalous"), row.get("suspicious_lines") or []
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise DetectionInputError(f"{path}:{number}: not a row of `logllm detect --output` ({err})") from None
            if wanted and window not in wanted:
                continue
            if not wanted and not flagged:
                continue
            matched.add(window)
            for line in lines:
                if isinstance(line, dict) and line.get("evidence") in parts:
                    found.append(line.get("template") or line.get("text") or "")
    if wanted - matched:
        raise DetectionInputError(f"{path}: no row for window(s) {', '.join(sorted(wanted - matched))}")
    found = [t for t in dict.fromkeys(found) if t.strip()]
    if not found:
        raise DetectionInputError(f"{path}: its {'chosen' if wanted else 'flagged'} rows hold no line with evidence "
                                  f"{' / '.join(sorted(parts))} to accept")
    return found


__all__ = ["Ledger", "TEMPLATE_PARTS", "check_template", "model_id_of", "texts_from_output"]
