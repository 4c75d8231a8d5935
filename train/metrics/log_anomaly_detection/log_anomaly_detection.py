"""Threshold and ranking metrics for binary log anomaly detection, as an offline `evaluate` module.

`evaluate.load("f1")` fetches its script from the Hub, which this project never reaches at run
time; a local module folder loads offline, so every metric we report goes through one
`evaluate.EvaluationModule` built on scikit-learn's reference implementations.
"""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import average_precision_score
from sklearn.metrics import confusion_matrix
from sklearn.metrics import roc_auc_score

_DESCRIPTION = """
Scores windows of log lines as anomalous (1) or normal (0). Given P(anomalous) per window and a
decision threshold (a window is anomalous when score >= threshold), returns precision, recall, F1,
accuracy and specificity at that threshold, the threshold-free ROC-AUC and PR-AUC (average
precision), the confusion-matrix counts and n. Ranking metrics are None when a class is absent.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): P(anomalous) per window, in [0, 1].
    references (`list` of `int`): true window labels, 1 anomalous, 0 normal.
    threshold (`float`, *optional*, defaults to 0.5): score at or above which a window is anomalous.
Returns:
    dict with precision, recall, f1, accuracy, specificity, roc_auc, pr_auc, threshold, tp, fp, tn, fn, n.
Examples:
    >>> metric = evaluate.load("train/metrics/log_anomaly_detection")
    >>> metric.compute(predictions=[0.1, 0.9, 0.8], references=[0, 1, 0], threshold=0.5)["f1"]
    0.6666666666666666
"""

_CITATION = """
@article{guan2024logllm,
  title={LogLLM: Log-based Anomaly Detection Using Large Language Models},
  author={Guan, Wei and Cao, Jian and Qian, Shiyou and Gao, Jianqi and Ouyang, Chun},
  journal={arXiv preprint arXiv:2411.08561},
  year={2024}
}
"""


def _safe_ratio(numerator: int, denominator: int) -> float:
    """Precision/recall convention of scikit-learn's zero_division=0: an empty denominator gives 0."""
    return float(numerator / denominator) if denominator else 0.0


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LogAnomalyDetection(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("int64")}
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html"],
        )

    def _compute(self, predictions, references, threshold=0.5):
        scores = np.asarray(predictions, dtype=float)
        labels = np.asarray(references, dtype=int)
        predicted = (scores >= threshold).astype(int)
        tn, fp, fn, tp = (int(v) for v in confusion_matrix(labels, predicted, labels=[0, 1]).ravel())
        precision = _safe_ratio(tp, tp + fp)
        recall = _safe_ratio(tp, tp + fn)
        both_classes = len(np.unique(labels)) == 2
        return {
            "precision": precision,
            "recall": recall,
            "f1": _safe_ratio(2 * tp, 2 * tp + fp + fn),
            "accuracy": _safe_ratio(tp + tn, len(labels)),
            "specificity": _safe_ratio(tn, tn + fp),
            "roc_auc": float(roc_auc_score(labels, scores)) if both_classes else None,
            "pr_auc": float(average_precision_score(labels, scores)) if both_classes else None,
            "threshold": float(threshold),
            "tp": tp,
            "fp": fp,
            "tn": tn,
            "fn": fn,
            "n": int(len(labels)),
        }
