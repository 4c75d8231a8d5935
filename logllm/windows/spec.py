"""How lines are grouped into windows (``WindowSpec``) and the default grouping per log format.

The defaults live in one table, ``DEFAULT_WINDOWS``, because three places must agree on them:
``logllm data build`` (``BuildSettings``), ``logllm detect``/``watch``/the Space, and the text the
dataset card and ``--help`` print. A spec is written ``session``, ``sliding:SIZE[:STEP]`` or
``time:SECONDS[:STEP]``; the same text is what ``--window`` takes and what reports show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from logllm.logs.errors import DetectionInputError

__all__ = ["WindowSpec", "WindowDefaults", "DEFAULT_WINDOWS", "SESSION", "PAPER_SLIDING", "READABLE_SLIDING",
           "DEFAULT_TIME", "WATCH_WINDOW", "default_window"]

WINDOWINGS = ("session", "sliding", "time")


@dataclass(frozen=True)
class WindowSpec:
    """One way of grouping lines.

    Args:
        kind (`str`): ``session`` (one window per HDFS block id), ``sliding`` (``size`` lines every
            ``step`` lines) or ``time`` (``seconds`` long, every ``time_step`` seconds).
        size (`int`, *optional*, defaults to 100) and step (`int`, *optional*, defaults to ``size``).
        seconds (`float`, *optional*, defaults to 60) and time_step (`float`, *optional*, defaults
            to ``seconds``).
    """

    kind: str
    size: int = 100
    step: int | None = None
    seconds: float = 60.0
    time_step: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in WINDOWINGS:
            raise ValueError(f"unknown windowing {self.kind!r}; choose one of {', '.join(WINDOWINGS)}")
        if self.step is None:
            object.__setattr__(self, "step", self.size)

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        """``session`` | ``sliding:SIZE[:STEP]`` | ``time:SECONDS[:STEP]``; anything else is a clear error."""
        parts = text.strip().lower().split(":")
        kind, args = parts[0], parts[1:]
        try:
            if kind == "session" and not args:
                return SESSION
            if kind == "sliding" and len(args) <= 2:
                size = int(args[0]) if args else PAPER_SLIDING.size
                step = int(args[1]) if len(args) > 1 else size
                if size >= 1 and step >= 1:
                    return cls("sliding", size=size, step=step)
            if kind == "time" and len(args) <= 2:
                seconds = float(args[0]) if args else DEFAULT_TIME.seconds
                step = float(args[1]) if len(args) > 1 else None
                if all(math.isfinite(x) and x > 0 for x in (seconds, step or seconds)):
                    return cls("time", seconds=seconds, time_step=step)
        except ValueError:
            pass
        raise DetectionInputError(
            f"--window {text!r} not understood; use 'session', 'sliding:SIZE[:STEP]' (whole numbers >= 1) "
            "or 'time:SECONDS[:STEP]' (seconds > 0)"
        )

    def __str__(self) -> str:
        if self.kind == "sliding":
            return f"sliding:{self.size}:{self.step}"
        if self.kind == "time":
            return f"time:{self.seconds:g}" + (f":{self.time_step:g}" if self.time_step not in (None, self.seconds) else "")
        return self.kind

    def describe(self) -> str:
        """The words the dataset card uses."""
        if self.kind == "sliding":
            return f"sliding (size {self.size}, step {self.step})"
        if self.kind == "time":
            return f"time (length {self.seconds:g}s, step {(self.time_step or self.seconds):g}s)"
        return "session (one window per block id)"


SESSION = WindowSpec("session")
PAPER_SLIDING = WindowSpec("sliding", size=100, step=100)   # the paper's BGL/Thunderbird/Liberty windows
READABLE_SLIDING = WindowSpec("sliding", size=50, step=50)  # a person reads the evidence of user logs
DEFAULT_TIME = WindowSpec("time", seconds=60.0)
WATCH_WINDOW = READABLE_SLIDING                             # logllm watch (sliding windows only)


@dataclass(frozen=True)
class WindowDefaults:
    """A format's default windows: for datasets (``logllm data build``) and for scoring a user's logs."""

    build: WindowSpec
    detect: WindowSpec


DEFAULT_WINDOWS: dict[str, WindowDefaults] = {
    "hdfs": WindowDefaults(SESSION, SESSION),
    "hdfs_traces": WindowDefaults(SESSION, SESSION),
    "synthetic-hdfs": WindowDefaults(SESSION, SESSION),
    "bgl": WindowDefaults(PAPER_SLIDING, PAPER_SLIDING),
    "thunderbird": WindowDefaults(PAPER_SLIDING, PAPER_SLIDING),
    "liberty": WindowDefaults(PAPER_SLIDING, PAPER_SLIDING),
    "spirit": WindowDefaults(PAPER_SLIDING, PAPER_SLIDING),
    "synthetic-bgl": WindowDefaults(PAPER_SLIDING, PAPER_SLIDING),
    "plain": WindowDefaults(PAPER_SLIDING, READABLE_SLIDING),
}


def default_window(fmt: str, purpose: str = "detect") -> WindowSpec:
    """The default spec of format ``fmt`` for ``purpose`` ``"build"`` or ``"detect"`` (unknown formats: plain's)."""
    row = DEFAULT_WINDOWS.get(fmt, DEFAULT_WINDOWS["plain"])
    return getattr(row, purpose)
