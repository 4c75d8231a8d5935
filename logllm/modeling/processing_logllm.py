"""LogLLM processor: log windows -> encoder line tensors + decoder prompt ids.

One window becomes one decoder prompt

    prefix  <log> <log> ... <log>  question  [answer]

with one `<log>` placeholder per line. The lines themselves are tokenised for the encoder once per
*batch*: identical (preprocessed) lines share one row of `line_input_ids`, and `line_index` maps
each placeholder, in row-major order over the batch, to its row. Masked HDFS logs have well under a
hundred distinct lines, so this is where most of the encoder work disappears.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from transformers import BatchFeature, ProcessorMixin

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
PREPROCESSING_CHOICES = ("re", "raw")
LEGACY_PREPROCESSING = {"none": "raw"}


@dataclass(frozen=True)
class PromptIds:
    """Decoder token ids of the fixed prompt parts, computed once per processor."""

    prefix: list[int]
    question: list[int]
    normal_answer: list[int]
    anomalous_answer: list[int]
    answer_common: list[int]  # the answers' shared beginning, e.g. "The sequence is"
    normal_token_id: int  # first token where the answers differ
    anomalous_token_id: int


def _leading_special_ids(tokenizer, text: str) -> list[int]:
    """Ids the tokenizer puts before `text` on its own (BOS for Llama, [CLS] for BERT, none for Qwen2)."""
    with_special = tokenizer(text, add_special_tokens=True)["input_ids"]
    without = tokenizer(text, add_special_tokens=False)["input_ids"]
    for start in range(len(with_special) - len(without) + 1):
        if with_special[start : start + len(without)] == without:
            return list(with_special[:start])
    return []


class LogLLMProcessor(ProcessorMixin):
    r"""
    Holds the encoder and decoder tokenizers, the line preprocessing and the prompt template.

    Args:
        encoder_tokenizer ([`PreTrainedTokenizerBase`]):
            Tokenizer of the line encoder (e.g. BERT WordPiece).
        decoder_tokenizer ([`PreTrainedTokenizerBase`]):
            Tokenizer of the causal decoder; must contain `log_token` as a special token (added if missing:
            the model's embeddings must then be resized, which `from_components`/presets do).
        preprocessing (`str`, *optional*, defaults to `"re"`):
            `"re"` masks variable fields (numbers, ids, paths, ...) with `<*>`; `"raw"` keeps lines as given.
        max_lines_per_window (`int`, *optional*, defaults to 128):
            Longer windows are truncated to their first lines, with a warning; counted in `stats`.
        max_tokens_per_line (`int`, *optional*, defaults to 100):
            Longer lines are truncated by the encoder tokenizer; counted in `stats`.
        log_token (`str`, *optional*, defaults to `"<log>"`):
            The per-line placeholder.
        prompt_prefix, prompt_question, normal_answer, anomalous_answer (`str`, *optional*):
            The prompt template (defaults are the paper's).
    """

    def __init__(
        self,
        encoder_tokenizer=None,
        decoder_tokenizer=None,
        preprocessing: str = "re",
        max_lines_per_window: int = 128,
        max_tokens_per_line: int = 100,
        log_token: str = "<log>",
        prompt_prefix: str = "Below is a sequence of system log messages:",
        prompt_question: str = ". Is this sequence normal or anomalous?",
        normal_answer: str = "The sequence is normal.",
        anomalous_answer: str = "The sequence is anomalous.",
        **kwargs,
    ):
        preprocessing = LEGACY_PREPROCESSING.get(preprocessing, preprocessing)
        if preprocessing not in PREPROCESSING_CHOICES:
            raise ValueError(f"preprocessing must be one of {PREPROCESSING_CHOICES}, got {preprocessing!r}")
        self.preprocessing = preprocessing
        self.max_lines_per_window = int(max_lines_per_window)
        self.max_tokens_per_line = int(max_tokens_per_line)
        self.log_token = log_token
        self.prompt_prefix = prompt_prefix
        self.prompt_question = prompt_question
        self.normal_answer = normal_answer
        self.anomalous_answer = anomalous_answer
        if decoder_tokenizer is not None and log_token not in decoder_tokenizer.get_vocab():
            decoder_tokenizer.add_special_tokens({"additional_special_tokens": [log_token]})
        super().__init__(encoder_tokenizer, decoder_tokenizer, **kwargs)
        self.stats: Counter = Counter()
        self._prompt_ids: PromptIds | None = None

    @classmethod
    def from_components(cls, encoder: str, decoder: str, **kwargs) -> LogLLMProcessor:
        """Processor from the tokenizers of a pretrained encoder and decoder (Hub ids or folders)."""
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(str(encoder)), AutoTokenizer.from_pretrained(str(decoder)), **kwargs)

    # ------------------------------------------------------------------ ids and configuration checks

    @property
    def log_token_id(self) -> int:
        return self.decoder_tokenizer.convert_tokens_to_ids(self.log_token)

    @property
    def decoder_pad_token_id(self) -> int:
        tok = self.decoder_tokenizer
        for candidate in (tok.pad_token_id, tok.eos_token_id):
            if candidate is not None:
                return candidate
        return 0  # never attended to, never a label

    @property
    def prompt_ids(self) -> PromptIds:
        if self._prompt_ids is None:
            self._prompt_ids = self._build_prompt_ids()
        return self._prompt_ids

    def _build_prompt_ids(self) -> PromptIds:
        tok = self.decoder_tokenizer

        def encode(text: str) -> list[int]:
            return list(tok(text, add_special_tokens=False)["input_ids"])

        eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
        normal, anomalous = encode(self.normal_answer) + eos, encode(self.anomalous_answer) + eos
        k = next((i for i, (a, b) in enumerate(zip(normal, anomalous)) if a != b), None)
        if k is None:
            raise ValueError(
                f"The answers {self.normal_answer!r} and {self.anomalous_answer!r} tokenise so that one is a "
                "prefix of the other; they need a token where they differ"
            )
        return PromptIds(
            prefix=_leading_special_ids(tok, self.prompt_prefix) + encode(self.prompt_prefix),
            question=encode(self.prompt_question),
            normal_answer=normal,
            anomalous_answer=anomalous,
            answer_common=normal[:k],
            normal_token_id=normal[k],
            anomalous_token_id=anomalous[k],
        )

    def check_config(self, config) -> None:
        """Raise a clear error when this processor does not fit `config` (a `LogLLMConfig`)."""
        problems = []
        ids = self.prompt_ids
        if config.log_token_id is not None and config.log_token_id != self.log_token_id:
            problems.append(f"log_token_id: config {config.log_token_id}, processor {self.log_token_id}")
        for name, value in (("normal_token_id", ids.normal_token_id), ("anomalous_token_id", ids.anomalous_token_id)):
            if getattr(config, name) is not None and getattr(config, name) != value:
                problems.append(f"{name}: config {getattr(config, name)}, processor {value}")
        dec_vocab, enc_vocab = len(self.decoder_tokenizer), len(self.encoder_tokenizer)
        if dec_vocab > config.decoder_config.vocab_size:
            problems.append(f"decoder tokenizer has {dec_vocab} tokens, decoder vocab_size is {config.decoder_config.vocab_size}")
        if enc_vocab > config.encoder_config.vocab_size:
            problems.append(f"encoder tokenizer has {enc_vocab} tokens, encoder vocab_size is {config.encoder_config.vocab_size}")
        if problems:
            raise ValueError("Processor and model config do not match (wrong tokenizer?): " + "; ".join(problems))

    # ------------------------------------------------------------------ windows -> model text

    def preprocess_lines(self, lines: Sequence[str]) -> list[str]:
        """Apply this processor's preprocessing to raw lines (each distinct line once)."""
        if self.preprocessing == "raw":
            return list(lines)
        from .masking_logllm import mask_line

        masked = {line: mask_line(line) for line in dict.fromkeys(lines)}
        return [masked[line] for line in lines]

    def split_long_window(self, window: Sequence[str]) -> list[list[str]]:
        """Cut a window into consecutive chunks of at most `max_lines_per_window` lines (`chunk_spans`, the one
        long-window policy)."""
        from .detection_logllm import chunk_spans

        return [list(window[span.start : span.stop]) for span in chunk_spans(len(window), self.max_lines_per_window)]

    def validate_windows(self, windows) -> None:
        """Raise a clear error for anything that is not a non-empty list of windows of non-blank lines."""
        if isinstance(windows, (str, bytes)) or not isinstance(windows, Sequence):
            raise TypeError(f"windows must be a list of windows (list[list[str]]), got {type(windows).__name__}")
        if len(windows) == 0:
            raise ValueError("windows is empty: nothing to process")
        for w, window in enumerate(windows):
            if isinstance(window, str):
                raise TypeError(
                    f"window {w} is a string; windows must be lists of lines (wrap one window as [lines])"
                )
            if len(window) == 0:
                raise ValueError(f"window {w} is empty: a window needs at least one log line")
            for i, line in enumerate(window):
                if not isinstance(line, str):
                    raise TypeError(f"window {w}, line {i}: expected str, got {type(line).__name__}")
                if not line.strip():
                    raise ValueError(f"window {w}, line {i} is empty or whitespace only")

    def _fit_window_length(self, windows: list[list[str]]) -> list[list[str]]:
        fitted = []
        for w, window in enumerate(windows):
            if len(window) > self.max_lines_per_window:
                dropped = len(window) - self.max_lines_per_window
                logger.warning(
                    "window %d has %d lines, more than max_lines_per_window=%d: keeping the first %d, dropping %d "
                    "(LogLLMForAnomalyDetection.detect splits long windows instead)",
                    w, len(window), self.max_lines_per_window, self.max_lines_per_window, dropped,
                )
                self.stats["windows_truncated"] += 1
                self.stats["lines_dropped"] += dropped
                window = window[: self.max_lines_per_window]
            fitted.append(list(window))
        return fitted

    # ------------------------------------------------------------------ tensors

    def encode_lines(self, distinct: list[str]) -> dict[str, torch.Tensor]:
        """Encoder inputs for these lines (each truncated to `max_tokens_per_line`; truncations counted)."""
        enc = self.encoder_tokenizer(
            distinct,
            truncation=True,
            max_length=self.max_tokens_per_line,
            padding="longest",
            return_tensors="pt",
        )
        n_truncated = self._count_truncated(distinct, enc)
        if n_truncated:
            self.stats["lines_truncated"] += n_truncated
            # debug only: a run of many batches reports its total once (`truncation_note`)
            logger.debug(
                "%d distinct line(s) longer than max_tokens_per_line=%d were truncated", n_truncated, self.max_tokens_per_line
            )
        return {"line_input_ids": enc["input_ids"], "line_attention_mask": enc["attention_mask"]}

    def _count_truncated(self, distinct: list[str], enc) -> int:
        encodings = getattr(enc, "encodings", None)
        if encodings:  # fast tokenizer: truncated pieces are kept as `overflowing`
            return sum(1 for e in encodings if e.overflowing)
        full = self.encoder_tokenizer(distinct, add_special_tokens=True)["input_ids"]
        return sum(1 for ids in full if len(ids) > self.max_tokens_per_line)

    def _decoder_row(self, n_lines: int, label: int | None) -> tuple[list[int], list[int], int]:
        """ids, labels and the index of the logit that predicts the deciding answer token."""
        ids = self.prompt_ids
        context = ids.prefix + [self.log_token_id] * n_lines + ids.question
        if label is None:
            row = context + ids.answer_common
            return row, [IGNORE_INDEX] * len(row), len(row) - 1
        answer = ids.anomalous_answer if label == 1 else ids.normal_answer
        row = context + answer
        labels = [IGNORE_INDEX] * len(context) + answer
        return row, labels, len(context) + len(ids.answer_common) - 1

    def __call__(
        self,
        windows: Sequence[Sequence[str]],
        labels: Sequence[int] | None = None,
        preprocessed: bool = False,
        deduplicate: bool = True,
        return_tensors: str = "pt",
        **kwargs,
    ) -> BatchFeature:
        """Turn a batch of windows (lists of lines) into model inputs.

        Returns a `BatchFeature` with `input_ids`/`attention_mask` (decoder prompts, right padded),
        `line_input_ids`/`line_attention_mask` (the batch's distinct lines), `line_index` (placeholder
        -> distinct line, row-major over the batch), `score_positions` (logit that decides the answer)
        and, when `labels` are given, `labels` (answer tokens only, -100 elsewhere).
        `deduplicate=False` gives every line its own row (only for measuring what deduplication saves).
        """
        if return_tensors != "pt":
            raise ValueError("LogLLMProcessor only returns PyTorch tensors (return_tensors='pt')")
        self.validate_windows(windows)
        if labels is not None:
            labels = self._validate_labels(labels, len(windows))
        windows = self._fit_window_length([list(w) for w in windows])
        if not preprocessed:
            flat = self.preprocess_lines([line for window in windows for line in window])
            it = iter(flat)
            windows = [[next(it) for _ in window] for window in windows]

        if deduplicate:
            row_of: dict[str, int] = {}
            line_index = [row_of.setdefault(line, len(row_of)) for window in windows for line in window]
            distinct = list(row_of)
        else:
            distinct = [line for window in windows for line in window]
            line_index = list(range(len(distinct)))
        features = self.encode_lines(distinct)

        rows = [self._decoder_row(len(w), None if labels is None else labels[i]) for i, w in enumerate(windows)]
        width = max(len(r[0]) for r in rows)
        pad = self.decoder_pad_token_id
        features["input_ids"] = torch.tensor([r[0] + [pad] * (width - len(r[0])) for r in rows], dtype=torch.long)
        features["attention_mask"] = torch.tensor(
            [[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows], dtype=torch.long
        )
        if labels is not None:
            features["labels"] = torch.tensor(
                [r[1] + [IGNORE_INDEX] * (width - len(r[1])) for r in rows], dtype=torch.long
            )
        features["line_index"] = torch.tensor(line_index, dtype=torch.long)
        features["score_positions"] = torch.tensor([r[2] for r in rows], dtype=torch.long)
        self.stats["windows"] += len(windows)
        self.stats["lines"] += len(line_index)
        self.stats["distinct_lines_encoded"] += len(distinct)
        return BatchFeature(data=features)

    @staticmethod
    def _validate_labels(labels, n_windows: int) -> list[int]:
        labels = [int(x) for x in (labels.tolist() if isinstance(labels, torch.Tensor) else labels)]
        if len(labels) != n_windows:
            raise ValueError(f"got {len(labels)} labels for {n_windows} windows")
        bad = [(i, x) for i, x in enumerate(labels) if x not in (0, 1)]
        if bad:
            i, x = bad[0]
            raise ValueError(f"label {i} is {x}; labels must be 0 (normal) or 1 (anomalous) to train on")
        return labels

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "line_input_ids", "line_attention_mask", "line_index", "score_positions"]


LogLLMProcessor.register_for_auto_class()


def truncation_note(processor: LogLLMProcessor, before: Mapping[str, int]) -> str | None:
    """One sentence on the lines `processor` cut to `max_tokens_per_line` since `before` (an earlier
    `dict(processor.stats)`), or None. The processor logs each batch's count at debug level only; code that runs
    many batches (a training stage, an evaluation, `logllm detect`) reports this total once."""
    cut = getattr(processor, "stats", {}).get("lines_truncated", 0) - before.get("lines_truncated", 0)
    if cut <= 0:
        return None
    return (
        f"{cut} line(s) longer than max_tokens_per_line={getattr(processor, 'max_tokens_per_line', '?')} were "
        "truncated (each distinct line counted once per batch it was in)"
    )


__all__ = ["LogLLMProcessor", "PromptIds", "IGNORE_INDEX", "truncation_note"]
