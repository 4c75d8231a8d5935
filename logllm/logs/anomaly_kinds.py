"""The names of anomaly kinds, defined once.

The synthetic log generators (``logllm.logs.synthetic``) inject these kinds into generated logs and
record them as a line's ``category``; normal-only training (``logllm.dataset.normal_only``)
synthesises them from a user's own lines (category ``synthetic:<kind>``). Both, the benchmarks,
the tests and the dataset card use these names, so per-kind results compare across them.

Older releases called three of the normal-only kinds differently; ``canonical_kind`` maps those
names (in arguments and in saved datasets' categories) to the current ones and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

__all__ = ["ANOMALY_KINDS", "RENAMED_KINDS", "canonical_kind", "parse_kinds"]

logger = logging.getLogger(__name__)

ANOMALY_KINDS: dict[str, str] = {
    "unseen_template": "a message the system never prints in normal operation",
    "error_burst": "a warning that normal runs also print now and then, repeated many times",
    "error_level": "a line's level word turns severe (INFO -> ERROR/FATAL...), or the line gains a failure prefix",
    "missing_step": "a step of a workflow is left out (every line of that step is gone)",
    "out_of_order": "steps of a workflow appear in the wrong order",
    "abnormal_value": "a parameter takes an unusual value",
}

RENAMED_KINDS: dict[str, str] = {
    "dropped_steps": "missing_step",
    "reordered_steps": "out_of_order",
    "parameter_outlier": "abnormal_value",
}

_SYNTHETIC = "synthetic:"
_warned: set[str] = set()


def canonical_kind(name: str) -> str:
    """``name`` with an old kind name replaced by the current one (logged once); other names unchanged.

    Works on bare kinds and on normal-only categories (``synthetic:<kind>``); any other category
    (a BGL alert tag such as ``KERNDTLB``) passes through.
    """
    prefix = _SYNTHETIC if name.startswith(_SYNTHETIC) else ""
    kind = name[len(prefix):]
    if kind not in RENAMED_KINDS:
        return name
    new = prefix + RENAMED_KINDS[kind]
    if name not in _warned:
        _warned.add(name)
        logger.warning("anomaly kind %r is now called %r; reading it as %r", name, new, new)
    return new


def parse_kinds(kinds: str | Iterable[str], allowed: Iterable[str], *, what: str = "anomaly kinds") -> tuple[str, ...]:
    """Comma-separated text or names -> current kind names, each one of ``allowed``.

    Old names are mapped (``canonical_kind``); unknown or missing names raise ``ValueError``
    listing the allowed ones with what each means.
    """
    allowed = tuple(allowed)
    names = [k.strip() for k in kinds.split(",")] if isinstance(kinds, str) else [str(k).strip() for k in kinds]
    parsed = tuple(dict.fromkeys(canonical_kind(k) for k in names if k))
    unknown = [k for k in parsed if k not in allowed]
    if not parsed or unknown:
        listing = "; ".join(f"{k}: {ANOMALY_KINDS[k]}" for k in allowed)
        raise ValueError(f"unknown kind(s) {unknown or '(none given)'} in {what}; choose from {','.join(allowed)} "
                         f"({listing})")
    return parsed
