"""Splits that measure generalization: unseen anomaly types, few labels, other systems.

The paper's splits put the same kinds of anomaly in train and test, where a decision tree on
event counts already scores F1 ≈ 1.0. These helpers build the harder settings an LLM reading
log text should win:

* :func:`unseen_type_split` holds out whole anomaly categories (BGL/Thunderbird alert
  categories, synthetic anomaly kinds, HDFS templates seen only in anomalous blocks), so every
  test anomaly is of a type never seen labeled in training.
* :func:`subsample_labels` keeps 1%, 5%, 10%... of the labeled windows, stratified and seeded;
  smaller fractions are prefixes of larger ones for the same seed, so curves compare like with
  like.
* :func:`cross_system_split` and :func:`combine_systems` train on one system and test on
  another (zero-shot or after a small fine-tune), or train one model on several systems.

Every function takes windows as a list of row dicts (``docs/ARCHITECTURE.md``, contract 2) or a
``datasets.Dataset`` with those columns, and returns the same kind.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

logger = logging.getLogger(__name__)

Windows = Union[Sequence[Mapping[str, Any]], "datasets.Dataset"]  # noqa: F821

NO_ANOMALY_ONLY_TEMPLATE = "sequence-only"
"""Category of an anomalous session whose lines all also occur in normal sessions."""


# --------------------------------------------------------------------------- access helpers
def _is_dataset(windows: Any) -> bool:
    return hasattr(windows, "select") and hasattr(windows, "column_names")


def _column(windows: Windows, name: str) -> list[Any]:
    if _is_dataset(windows):
        if name not in windows.column_names:
            raise ValueError(f"dataset has no {name!r} column (columns: {windows.column_names})")
        return list(windows[name])
    values = []
    for i, row in enumerate(windows):
        if name not in row:
            raise ValueError(f"window {i} ({row.get('window_id', '?')!r}) has no {name!r} field")
        values.append(row[name])
    return values


def _select(windows: Windows, indices: Sequence[int]) -> Windows:
    if _is_dataset(windows):
        return windows.select(list(indices))
    return [windows[i] for i in indices]


def _window_ids(windows: Windows) -> list[str]:
    try:
        return [str(w) for w in _column(windows, "window_id")]
    except ValueError:
        return [str(i) for i in range(len(windows))]


def _labels(windows: Windows) -> list[int]:
    return [int(x) for x in _column(windows, "label")]


# --------------------------------------------------------------------------- categories
def _categories(windows: Windows) -> list[list[str]]:
    """Each window's categories, old anomaly-kind names read as the current ones (saved datasets)."""
    from logllm.logs.anomaly_kinds import canonical_kind

    return [[canonical_kind(c) for c in cats or ()] for cats in _column(windows, "categories")]


def category_counts(windows: Windows) -> Counter:
    """Number of anomalous windows per anomaly category (a window counts once per category)."""
    counts: Counter = Counter()
    for label, cats in zip(_labels(windows), _categories(windows)):
        if label == 1:
            counts.update(set(cats))
    return counts


def anomaly_only_templates(windows: Windows, column: str = "lines") -> list[str]:
    """Lines (templates, once preprocessed) that occur in anomalous windows and in no normal one.

    On HDFS these are the error templates (e.g. ``Exception in receiveBlock``); sorted by how many
    anomalous windows hold them, most first, ties by text, so ids are deterministic.
    """
    in_normal: set[str] = set()
    in_anomalous: Counter = Counter()
    for label, lines in zip(_labels(windows), _column(windows, column)):
        if label == 0:
            in_normal.update(lines)
        elif label == 1:
            in_anomalous.update(set(lines))
    only = [t for t in in_anomalous if t not in in_normal]
    return sorted(only, key=lambda t: (-in_anomalous[t], t))


def categorize_by_anomaly_templates(
    windows: Windows, column: str = "lines", prefix: str = "T"
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Give HDFS-style session windows categories: the anomaly-only templates they contain.

    Returns new row dicts (``categories`` replaced for anomalous windows; normal windows keep an
    empty list) and the id → template text mapping to document the split. An anomalous window
    with none of those templates (a missing or reordered step) gets ``NO_ANOMALY_ONLY_TEMPLATE``.
    """
    templates = anomaly_only_templates(windows, column)
    ids = {t: f"{prefix}{k + 1}" for k, t in enumerate(templates)}
    rows = windows.to_list() if _is_dataset(windows) else [dict(w) for w in windows]
    for row in rows:
        if int(row["label"]) != 1:
            row["categories"] = []
            continue
        cats = sorted({ids[line] for line in row[column] if line in ids}, key=lambda c: int(c[len(prefix):]))
        row["categories"] = cats or [NO_ANOMALY_ONLY_TEMPLATE]
    return rows, {v: k for k, v in ids.items()}


def choose_holdout_categories(
    windows: Windows, holdout_fraction: float = 0.5, seed: int = 0
) -> tuple[str, ...]:
    """Pick whole categories to hold out until they cover about ``holdout_fraction`` of anomalies.

    Categories are taken in a seeded random order; at least one category always stays for
    training and at least one is held out. Raises when there are fewer than two categories.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    counts = category_counts(windows)
    if len(counts) < 2:
        raise ValueError(
            f"an unseen-type split needs at least two anomaly categories, found {sorted(counts)}"
        )
    order = sorted(counts)
    random.Random(seed).shuffle(order)
    total = sum(counts.values())
    held: list[str] = []
    covered = 0
    for cat in order[:-1]:  # the last one always stays in training
        if held and covered >= holdout_fraction * total:
            break
        held.append(cat)
        covered += counts[cat]
    return tuple(sorted(held))


# --------------------------------------------------------------------------- unseen-type split
@dataclass
class UnseenTypeSplit:
    """Train/validation/test windows where test anomalies are only of held-out categories."""

    train: Windows
    validation: Windows
    test: Windows
    train_categories: tuple[str, ...]
    test_categories: tuple[str, ...]
    excluded_mixed: list[str] = field(default_factory=list)
    seed: int = 0

    def describe(self) -> dict[str, Any]:
        """Categories and window counts per split, for dataset cards and benchmark reports."""

        def stats(part: Windows) -> dict[str, Any]:
            labels = _labels(part)
            return {
                "windows": len(labels),
                "anomalous": sum(1 for x in labels if x == 1),
                "categories": dict(sorted(category_counts(part).items())),
            }

        return {
            "seed": self.seed,
            "train_categories": list(self.train_categories),
            "test_categories": list(self.test_categories),
            "excluded_mixed_windows": list(self.excluded_mixed),
            "train": stats(self.train),
            "validation": stats(self.validation),
            "test": stats(self.test),
        }

    def as_dataset_dict(self):
        """The three splits as a ``datasets.DatasetDict`` (rows keep the contract's columns)."""
        from datasets import Dataset, DatasetDict

        def to_ds(part: Windows):
            return part if _is_dataset(part) else Dataset.from_list(list(part))

        return DatasetDict(train=to_ds(self.train), validation=to_ds(self.validation), test=to_ds(self.test))


def _take_fraction(indices: list[int], fraction: float, rng: random.Random, at_least_one: bool) -> tuple[list[int], list[int]]:
    """Split ``indices`` (shuffled by ``rng``) into a ``fraction`` part and the rest."""
    shuffled = list(indices)
    rng.shuffle(shuffled)
    n = round(fraction * len(shuffled))
    if at_least_one and fraction > 0 and shuffled and n == 0:
        n = 1
    return sorted(shuffled[:n]), sorted(shuffled[n:])


def unseen_type_split(
    windows: Windows,
    holdout_categories: Iterable[str] | None = None,
    *,
    holdout_fraction: float = 0.5,
    test_normal_fraction: float = 0.2,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> UnseenTypeSplit:
    """Split so that every test anomaly is of a category never seen labeled in train/validation.

    Anomalous windows whose categories are all held out go to test; those with none held out go
    to train/validation; windows mixing both are used nowhere and listed in ``excluded_mixed``
    (logged, never silent). Normal windows are split at random (seeded) by
    ``test_normal_fraction``; validation is carved from the training part, stratified.
    ``holdout_categories`` defaults to :func:`choose_holdout_categories`; old anomaly-kind names
    (there and in the windows) are read as the current ones (``logllm.logs.anomaly_kinds``).
    """
    from logllm.logs.anomaly_kinds import canonical_kind

    for name, value in (("test_normal_fraction", test_normal_fraction), ("validation_fraction", validation_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    labels = _labels(windows)
    categories = _categories(windows)
    ids = _window_ids(windows)
    for i, (label, cats) in enumerate(zip(labels, categories)):
        if label == 1 and not cats:
            raise ValueError(
                f"window {ids[i]!r} is anomalous but has no category; an unseen-type split needs one "
                "per anomalous window (for HDFS sessions use categorize_by_anomaly_templates)"
            )
        if label not in (0, 1):
            raise ValueError(f"window {ids[i]!r} has label {label}; unseen-type splits need labeled windows (0/1)")
    known = set(category_counts(windows))
    held = set(choose_holdout_categories(windows, holdout_fraction, seed) if holdout_categories is None
               else map(canonical_kind, holdout_categories))
    unknown = held - known
    if unknown:
        raise ValueError(f"held-out categories {sorted(unknown)} occur in no anomalous window; known: {sorted(known)}")
    if not held or held == known:
        raise ValueError(f"hold out at least one and not all categories; known: {sorted(known)}, asked: {sorted(held)}")

    normal, seen, unseen, mixed = [], [], [], []
    for i, (label, cats) in enumerate(zip(labels, categories)):
        if label == 0:
            normal.append(i)
            continue
        hit = set(cats) & held
        (unseen if hit == set(cats) else seen if not hit else mixed).append(i)
    if mixed:
        logger.warning("%d anomalous windows mix held-out and seen categories; excluded from every split", len(mixed))
    if not unseen or not seen:
        raise ValueError("the held-out categories leave no anomalous window for train or for test")

    rng = random.Random(seed)
    test_normal, train_normal = _take_fraction(normal, test_normal_fraction, rng, at_least_one=True)
    val_normal, train_normal = _take_fraction(train_normal, validation_fraction, rng, at_least_one=validation_fraction > 0)
    val_seen, train_seen = _take_fraction(seen, validation_fraction, rng, at_least_one=False)
    if not train_seen:  # keep at least one labeled anomaly for training
        train_seen, val_seen = val_seen[:1], val_seen[1:]
    train_cats = {c for i in seen for c in categories[i]}
    return UnseenTypeSplit(
        train=_select(windows, sorted(train_normal + train_seen)),
        validation=_select(windows, sorted(val_normal + val_seen)),
        test=_select(windows, sorted(test_normal + unseen)),
        train_categories=tuple(sorted(train_cats)),
        test_categories=tuple(sorted(held)),
        excluded_mixed=[ids[i] for i in mixed],
        seed=seed,
    )


# --------------------------------------------------------------------------- few labels
def stratified_order(labels: Sequence[int], seed: int = 0) -> dict[int, list[int]]:
    """A seeded random order of the indices of each class (the basis of nested subsamples)."""
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    rng = random.Random(seed)
    for label in sorted(by_class):
        rng.shuffle(by_class[label])
    return by_class


def label_subsample_indices(labels: Sequence[int], fraction: float, seed: int = 0, min_per_class: int = 1) -> list[int]:
    """Indices of a stratified ``fraction`` of labeled windows, at least ``min_per_class`` each.

    Per class, ``round(fraction × n_class)`` windows (raised to ``min_per_class`` where the class
    has that many) from a seeded order, so for one seed a smaller fraction's windows are always a
    subset of a larger fraction's. Windows labeled -1 (unknown) are never chosen.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    chosen: list[int] = []
    for label, order in stratified_order(labels, seed).items():
        if label not in (0, 1):
            continue
        n = min(len(order), max(round(fraction * len(order)), min_per_class))
        chosen.extend(order[:n])
    return sorted(chosen)


def as_unlabeled(windows: Windows) -> Windows:
    """The same windows with labels hidden (label -1, line labels -1, no categories)."""

    def hide(row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(row)
        out["label"] = -1
        if "line_labels" in out:
            out["line_labels"] = [-1] * len(out["line_labels"])
        if "categories" in out:
            out["categories"] = []
        return out

    if _is_dataset(windows):
        return windows.map(hide, desc="hiding labels")
    return [hide(r) for r in windows]


def subsample_labels(
    windows: Windows, fraction: float, *, seed: int = 0, min_per_class: int = 1, rest: str = "drop"
) -> tuple[Windows, Windows | None]:
    """Keep a stratified, seeded ``fraction`` of the labeled windows.

    Returns ``(labeled, rest)``: with ``rest="drop"`` the rest is None (unused); with
    ``rest="unlabeled"`` it is the other windows with their labels hidden, for semi-supervised use.
    """
    if rest not in {"drop", "unlabeled"}:
        raise ValueError(f"rest must be 'drop' or 'unlabeled', got {rest!r}")
    labels = _labels(windows)
    keep = label_subsample_indices(labels, fraction, seed, min_per_class)
    labeled = _select(windows, keep)
    if rest == "drop":
        return labeled, None
    keep_set = set(keep)
    return labeled, as_unlabeled(_select(windows, [i for i in range(len(labels)) if i not in keep_set]))


# --------------------------------------------------------------------------- other systems
def cross_system_split(
    source: Windows, target: Windows, *, finetune_fraction: float = 0.0, seed: int = 0, min_per_class: int = 1
) -> dict[str, Windows]:
    """Train on ``source``, test on ``target``; optionally fine-tune on a few target windows.

    Returns ``{"train": source, "finetune": ..., "test": ...}``; the fine-tune windows (a
    stratified ``finetune_fraction`` of the target) are removed from its test part, so no target
    window is both learned from and scored. With ``finetune_fraction=0`` the setting is zero-shot
    and ``finetune`` is empty.
    """
    if not 0.0 <= finetune_fraction < 1.0:
        raise ValueError(f"finetune_fraction must be in [0, 1), got {finetune_fraction}")
    if finetune_fraction == 0:
        return {"train": source, "finetune": _select(target, []), "test": target}
    labels = _labels(target)
    tune = label_subsample_indices(labels, finetune_fraction, seed, min_per_class)
    tune_set = set(tune)
    return {
        "train": source,
        "finetune": _select(target, tune),
        "test": _select(target, [i for i in range(len(labels)) if i not in tune_set]),
    }


def combine_systems(parts: Mapping[str, Windows]) -> tuple[list[dict[str, Any]], list[str]]:
    """Concatenate several systems' windows into one training set, remembering each row's system.

    Returns the rows (``window_id`` prefixed with ``<system>/`` so ids stay unique) and the
    parallel list of system names, for per-system results of a multi-system model.
    """
    rows: list[dict[str, Any]] = []
    systems: list[str] = []
    for system, windows in parts.items():
        for row in windows.to_list() if _is_dataset(windows) else windows:
            out = dict(row)
            out["window_id"] = f"{system}/{row.get('window_id', len(rows))}"
            rows.append(out)
            systems.append(system)
    return rows, systems

def alert_lines(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(masked line, raw line, category) of the distinct anomalous lines in windows of a single alert category."""
    found: dict[str, tuple[str, str, str]] = {}
    for row in rows:
        if row["label"] and len(row["categories"]) == 1:
            for line, raw, flag in zip(row["lines"], row["raw_lines"], row["line_labels"]):
                if flag:
                    found.setdefault(line, (line, raw, row["categories"][0]))
    return [found[k] for k in sorted(found)]


def insert_alert_lines(normals: list[dict[str, Any]], alerts: Sequence[tuple[str, str, str]], rng: random.Random,
                       system: str) -> list[dict[str, Any]]:
    """Real unseen kinds from another system: in a seeded half of `normals` (changed in place), one line becomes an
    alert line of `system` (`alert_lines`), labelled anomalous with the category `"<system> <category>"`."""
    for row in rng.sample(normals, len(normals) // 2):
        line, raw, category = rng.choice(alerts)
        at = rng.randrange(len(row["lines"]))
        for key, value in (("lines", line), ("raw_lines", raw), ("line_labels", 1)):
            row[key] = list(row[key])
            row[key][at] = value
        row.update(label=1, categories=[f"{system} {category}"], window_id=f"{row['window_id']}+{system.lower()}@{at}")
    return normals


__all__ = [
    "NO_ANOMALY_ONLY_TEMPLATE",
    "alert_lines",
    "insert_alert_lines",
    "UnseenTypeSplit",
    "anomaly_only_templates",
    "as_unlabeled",
    "categorize_by_anomaly_templates",
    "category_counts",
    "choose_holdout_categories",
    "combine_systems",
    "cross_system_split",
    "label_subsample_indices",
    "stratified_order",
    "subsample_labels",
    "unseen_type_split",
]
