"""Scoring windows of log lines with a LogLLM model: the batching, caching, chunking and evidence around `forward`.

Shipped next to the model on the Hub (the modeling file imports it), so `model.detect(...)` works from a Hub folder
with `trust_remote_code`; the `logllm` package scores through the same functions. Torch is imported inside the
functions that need it, so the long-window policy (`chunk_spans`) can be used by the data tools without loading it.

- Long windows: a window longer than `max_lines_per_window` is read as consecutive chunks (`chunk_spans`); its
  score is the highest chunk score. Nothing is dropped.
- Batches: chunks are sorted by length before batching, so padding stays small.
- Caches: identical chunks (same model text, line by line) are scored once (`WindowScoreCache`, LRU, bounded: keyed by
  a 128-bit digest of the chunk's text, so an entry costs the same for a 10- or a 128-line chunk), and each distinct
  line is encoded once (`LineVectorCache`, LRU, bounded) while the encoder cannot change. A cache made with
  `max_entries=0` is off: every chunk goes through the model, every batch's lines through the encoder (for measuring
  what the caches save; the scores are the same).
- Evidence: a line's evidence is the drop in the window's log-odds of "anomalous" when that line's text is left
  out. Log-odds do not saturate: a window at P = 0.999 still shows which lines carry it.
- Novelty: with a novelty index in the model (training-normal lines), every line also gets its distance to the
  nearest line the model saw as normal; a window's novelty is its highest line novelty. How the two signals make a
  decision is the operating point's business (`logllm.scoring.operating_point`), not this module's.
- Non-finite scores raise `NonFiniteScoreError` naming the window: a broken model never reads as "normal".
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ProgressFn = Callable[[int, int], None]


class NonFiniteScoreError(FloatingPointError):
    """The model produced NaN or infinite logits for a window (broken or mis-loaded weights); `window` is its index
    among the windows scored (None when not known)."""

    def __init__(self, message: str, chunk: int | None = None, window: int | None = None) -> None:
        super().__init__(message)
        self.chunk, self.window = chunk, window


def chunk_spans(n_lines: int, max_lines: int) -> list[range]:
    """The one long-window policy: consecutive chunks of at most `max_lines` lines covering all `n_lines`.

    Scoring takes a window's highest chunk score; training uses each chunk as an example with its window's label.
    """
    if max_lines < 1:
        raise ValueError(f"max_lines must be >= 1, got {max_lines}")
    return [range(start, min(start + max_lines, n_lines)) for start in range(0, max(n_lines, 1), max_lines)]


@dataclass
class WindowScore:
    """A scored window: P(anomalous), its log-odds, (when asked) each line's evidence in log-odds, and (when the
    model has a novelty index) each line's novelty and the window's highest."""

    score: float
    log_odds: float
    line_evidence: list[float] | None = None
    chunks: int = 1
    novelty: float | None = None
    line_novelty: list[float] | None = None


class _LRU:
    """A bounded least-recently-used map with hit/miss counters; `max_entries=0` keeps nothing (cache off)."""

    def __init__(self, max_entries: int):
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0 (0 turns the cache off), got {max_entries}")
        self.max_entries = max_entries
        self._store: OrderedDict = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key):
        value = self._store.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._store.move_to_end(key)
        return value

    def put(self, key, value) -> None:
        if not self.max_entries:
            return
        self._store[key] = value
        self._store.move_to_end(key)
        while len(self._store) > self.max_entries:
            self._store.popitem(last=False)

    def clear(self) -> None:
        self._store.clear()
        self.hits = self.misses = 0

    @property
    def hit_rate(self) -> float | None:
        """Share of lookups answered from the cache (None before the first lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else None


class LineVectorCache(_LRU):
    """Pooled encoder vectors keyed by a line's encoder token ids (which identify the masked, truncated line).

    Valid only while the encoder cannot change; the model empties it when a stage trains the encoder.
    """

    def __init__(self, max_entries: int = 50_000):
        super().__init__(max_entries)

    def vectors(self, model, line_input_ids, line_attention_mask=None):
        """`(N, H_enc)` pooled vectors for these lines, encoding only the ones not cached yet."""
        import torch

        if line_attention_mask is None:
            line_attention_mask = torch.ones_like(line_input_ids)
        if not self.enabled:
            self.misses += len(line_input_ids)
            with torch.no_grad():
                return model.get_line_vectors(line_input_ids, line_attention_mask)
        keys = [tuple(t for t, keep in zip(ids, mask) if keep)  # the line's token ids, padding left out
                for ids, mask in zip(line_input_ids.tolist(), line_attention_mask.tolist())]
        found = [self.get(k) for k in keys]
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            idx = torch.tensor(missing, device=line_input_ids.device)
            mask = line_attention_mask[idx]
            width = int(mask.sum(-1).max())
            with torch.no_grad():
                fresh = model.get_line_vectors(line_input_ids[idx, :width], mask[:, :width])
            for i, vector in zip(missing, fresh):
                found[i] = vector
                self.put(keys[i], vector)
        return torch.stack(found)


class WindowScoreCache(_LRU):
    """Log-odds of already scored chunks keyed by a digest of their model text (identical masked windows repeat
    heavily: HDFS sessions, heartbeat-only sliding windows). About 150 bytes an entry, whatever the chunk's length."""

    def __init__(self, max_entries: int = 200_000):
        super().__init__(max_entries)

    @staticmethod
    def key(chunk: Sequence[str]) -> bytes:
        """128-bit digest of the chunk's lines (a line holds no newline, so joining on one is unambiguous)."""
        return hashlib.blake2b("\n".join(chunk).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _sigmoid(log_odds: float) -> float:
    return 1.0 / (1.0 + math.exp(-log_odds)) if log_odds > -700 else 0.0


def model_texts(windows: Sequence[Sequence[str]], processor, preprocessed: bool) -> list[list[str]]:
    """What the model reads: the processor's preprocessing (masking) applied once per distinct raw line."""
    if preprocessed:
        return [list(w) for w in windows]
    flat = processor.preprocess_lines([line for w in windows for line in w])
    shared: dict[str, str] = {}
    it = iter([shared.setdefault(text, text) for text in flat])  # equal masked lines share one string object
    return [[next(it) for _ in w] for w in windows]


def line_novelty(model, processor, lines: Sequence[str], batch_size: int = 256, k: int = 1) -> dict[str, float]:
    """Novelty of each distinct (model-text) line: cosine distance to its nearest training-normal line(s)."""
    import torch

    distinct = list(dict.fromkeys(lines))
    found: dict[str, float] = {}
    cache = model.line_cache
    for start in range(0, len(distinct), batch_size):
        part = distinct[start : start + batch_size]
        enc = processor.encode_lines(part)
        ids, mask = enc["line_input_ids"].to(model.device), enc["line_attention_mask"].to(model.device)
        with torch.no_grad():
            vectors = cache.vectors(model, ids, mask) if cache is not None else model.get_line_vectors(ids, mask)
            values = model.line_novelty(vectors, k=k).cpu().tolist()
        found.update(zip(part, values))
    return found


def _score_chunks(model, processor, chunks: list[tuple[str, ...]], batch_size: int, cache: WindowScoreCache,
                  progress: Callable[[int], None] | None) -> list[float]:
    """Log-odds of each chunk, each distinct chunk through the model once (every chunk when the cache is off),
    batches grouped by length."""
    import torch

    results: list[float | None] = [None] * len(chunks)
    todo: dict = {}  # key -> indices of the chunks it scores
    first: dict = {}  # key -> its chunk
    if cache.enabled:
        for i, chunk in enumerate(chunks):
            key = WindowScoreCache.key(chunk)
            if key in todo:  # a repeat within this call: scored once with its first occurrence
                todo[key].append(i)
                cache.hits += 1
                continue
            value = cache.get(key)
            if value is None:
                todo[key], first[key] = [i], chunk
            else:
                results[i] = value
    else:
        todo, first = {i: [i] for i in range(len(chunks))}, dict(enumerate(chunks))
        cache.misses += len(chunks)
    if progress is not None and len(chunks) > len(todo):
        progress(len(chunks) - sum(len(v) for v in todo.values()))
    order = sorted(todo, key=lambda k: len(first[k]), reverse=True)  # similar lengths share a batch: little padding
    no_logits = torch.zeros(0, dtype=torch.long)  # only the anomaly logits are read: skip the full-vocabulary head
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        inputs = processor([list(first[k]) for k in batch], preprocessed=True).to(model.device)
        with torch.no_grad():
            log_odds = model(**inputs, logits_to_keep=no_logits).anomaly_logits.float().cpu().tolist()
        for key, value in zip(batch, log_odds):
            if not math.isfinite(value):
                chunk = first[key]
                raise NonFiniteScoreError(
                    f"the model's score is {value} ({len(chunk)} lines, first: {chunk[0][:80]!r}); the weights may be "
                    "corrupt or the model overflowed (try float32)", chunk=todo[key][0],
                )
            cache.put(key, value)
            for i in todo[key]:
                results[i] = value
        if progress is not None:
            progress(sum(len(todo[k]) for k in batch))
    return results  # type: ignore[return-value]


def score_windows(
    model,
    processor,
    windows: Sequence[Sequence[str]],
    *,
    batch_size: int = 16,
    line_evidence: bool = False,
    preprocessed: bool = False,
    cache: WindowScoreCache | None = None,
    progress: ProgressFn | None = None,
    show_progress: bool = False,
    novelty: bool = True,
    novelty_k: int = 1,
    line_cache: LineVectorCache | None = None,
) -> list[WindowScore]:
    """Score windows (lists of raw lines, or model text with `preprocessed=True`); one `WindowScore` each.

    `novelty=False` skips the line novelty even when the model has an index. `line_cache` keeps encoded lines
    across calls (the model's own cache is used when it has one; otherwise a cache lives for this call only).
    `cache` keeps chunk scores across calls (pass the same object for a stream of windows); `progress(done, total)`
    is called as windows are scored (`total` counts evidence passes too when `line_evidence`).
    """
    import torch

    processor.validate_windows(windows)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    processor.check_config(model.config)
    texts = model_texts(windows, processor, preprocessed)
    chunks: list[tuple[str, ...]] = []
    owners: list[int] = []
    for w, window in enumerate(texts):
        spans = chunk_spans(len(window), processor.max_lines_per_window)
        if len(spans) > 1:
            processor.stats["windows_chunked"] += 1
        for span in spans:
            chunks.append(tuple(window[span.start : span.stop]))
            owners.append(w)

    variants: list[tuple[str, ...]] = []
    variant_keys: list[tuple[int, str]] = []
    if line_evidence:
        for c, chunk in enumerate(chunks):
            distinct = list(dict.fromkeys(chunk))
            if len(distinct) > 1:
                for line in distinct:
                    variants.append(tuple(x for x in chunk if x != line))
                    variant_keys.append((c, line))

    total = len(chunks) + len(variants)
    bar = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="scoring", unit="win")
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if bar is not None:
            bar.update(n)
        if progress is not None:
            progress(done, total)

    cache = cache if cache is not None else WindowScoreCache()
    was_training, previous_line_cache = model.training, model.line_cache
    model.eval()
    if previous_line_cache is None:
        model._line_cache = line_cache if line_cache is not None else LineVectorCache()
    try:
        with torch.no_grad():
            try:
                chunk_log_odds = _score_chunks(model, processor, chunks, batch_size, cache, advance)
            except NonFiniteScoreError as err:
                err.window = owners[err.chunk]
                raise
            try:
                variant_log_odds = _score_chunks(model, processor, variants, batch_size, cache, advance) if variants else []
            except NonFiniteScoreError as err:
                err.window = owners[variant_keys[err.chunk][0]]
                raise
            novel = (
                line_novelty(model, processor, [line for window in texts for line in window], k=novelty_k)
                if novelty and getattr(model, "novelty_index", None) is not None else None
            )
    finally:
        if previous_line_cache is None:
            model.disable_line_cache()
        model.train(was_training)
        if bar is not None:
            bar.close()

    effect = dict(zip(variant_keys, variant_log_odds))
    best = [-math.inf] * len(texts)
    n_chunks = [0] * len(texts)
    evidence: list[list[float]] = [[] for _ in texts]
    for c, (w, chunk) in enumerate(zip(owners, chunks)):
        best[w] = max(best[w], chunk_log_odds[c])
        n_chunks[w] += 1
        if line_evidence:
            # a chunk of one distinct line: leaving it out leaves nothing, so the line carries the chunk's log-odds
            evidence[w].extend(chunk_log_odds[c] - effect[(c, line)] if (c, line) in effect else chunk_log_odds[c]
                               for line in chunk)
    results = []
    for w, lo in enumerate(best):
        per_line = [novel[line] for line in texts[w]] if novel is not None else None
        results.append(WindowScore(
            score=_sigmoid(lo), log_odds=lo, line_evidence=evidence[w] if line_evidence else None, chunks=n_chunks[w],
            novelty=max(per_line) if per_line else None, line_novelty=per_line,
        ))
    return results


__all__ = ["NonFiniteScoreError", "WindowScore", "LineVectorCache", "WindowScoreCache", "chunk_spans", "line_novelty",
           "model_texts", "score_windows"]
