"""logllm/commands"""

from __future__ import annotations

import argparse


def add_decision_arguments(parser: argparse.ArgumentParser, flags: str, flag: str) -> None:
    """`--threshold` and `--no-novelty`, shared by the commands that decide on windows; `flags`/`flag` say what a
    window judged anomalous does ("is flagged" / "flag a window" in detect, "alerts" / "alert" in watch)."""
    parser.add_argument("--threshold", type=float, default=None,
                        help=f"P(anomalous) at or above which a window {flags} (default: the model's operating point, "
                             "chosen on validation when it was trained; else 0.5)")
    parser.add_argument("--no-novelty", dest="novelty", action="store_false",
                        help=f"decide on the decoder's P(anomalous) alone: lines unlike anything in training do not {flag}")


def check_threshold(threshold: float | None) -> None:
    """Refuse a `--threshold` outside [0, 1] before any file is read or model loaded."""
    from logllm.logs.errors import DetectionInputError

    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise DetectionInputError(f"--threshold {threshold} must be between 0 and 1")
