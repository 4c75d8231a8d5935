"""logllm/commands"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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


# ---------------------------------------------------------------- reading input (detect, learn, detect --baseline)
def _stdin_to_file(max_bytes: int | None, folder: Path) -> Path:
    """Standard input is spooled to a temporary file so format detection can look at it twice."""
    path = folder / "stdin.log"
    written = 0
    with open(path, "wb") as out:
        while chunk := sys.stdin.buffer.read(1 << 20):
            written += len(chunk)
            if max_bytes is not None and written > max_bytes:
                from logllm.logs.errors import DetectionInputError

                raise DetectionInputError(f"<stdin>: more than {max_bytes / 1e6:.1f} MB; raise --max-mb")
            out.write(chunk)
    return path


class _ReadFailed(Exception):
    """Reading a file failed part way (its rows are taken back); not an error of scoring or of the output."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _guarded(windows):
    from logllm.dataset.user_logs import UNREADABLE

    try:
        yield from windows
    except UNREADABLE as error:
        raise _ReadFailed(error) from error
