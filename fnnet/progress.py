"""What ``fit`` prints while it trains: epoch lines and a progress bar that behaves like tqdm's.

The bar is redrawn at most ``max_per_second`` times a second (4 by default), and only on a
terminal: when stderr is a file or a pipe (a log, CI) the bar is silent and the caller's epoch
lines are the record. An epoch line always starts on a fresh line below the bar.

>>> import io
>>> out = io.StringIO()  # not a terminal: no bar frames, only lines
>>> display = Progress(epochs=3, steps_per_epoch=10, stream=out)
>>> display.step(1, 5)
>>> display.line("epoch 1  loss 0.5")  # a line of its own, on stdout
epoch 1  loss 0.5
>>> display.close()
>>> out.getvalue()  # nothing was drawn on a stream that is not a terminal
''
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import IO

import numpy as np

from fnnet.arrays import Array

__all__ = ["Progress", "epoch_line"]


class Progress:
    """A progress display on ``stream`` (stderr by default) for a run of ``epochs`` epochs.

    ``step(epoch, done)`` reports that ``done`` of the epoch's ``steps_per_epoch`` steps are
    finished (drawn only on a terminal, at most ``max_per_second`` times a second, and always
    for the last step of an epoch); ``line(text)`` prints a whole line on stdout below the bar;
    ``close()`` ends the bar's line.
    """

    def __init__(
        self,
        epochs: int,
        steps_per_epoch: int,
        stream: IO[str] | None = None,
        max_per_second: float = 4.0,
    ) -> None:
        self.epochs, self.steps = epochs, max(1, steps_per_epoch)
        self.stream = sys.stderr if stream is None else stream
        self.live = _is_terminal(self.stream)
        self.interval = 1.0 / max_per_second
        self.start = time.perf_counter()
        self.last_draw = -self.interval
        self.open = False

    def step(self, epoch: int, done: int) -> None:
        """Redraw the bar if the stream is a terminal and enough time has passed."""
        if not self.live:
            return
        now = time.perf_counter()
        if now - self.last_draw < self.interval and done != self.steps:
            return
        self.last_draw = now
        width = 30
        filled = width * done // self.steps
        self.stream.write(
            f"\repoch {epoch}/{self.epochs} [{'#' * filled}{'.' * (width - filled)}] "
            f"{done}/{self.steps} {now - self.start:.1f}s"
        )
        self.stream.flush()
        self.open = True

    def line(self, text: str) -> None:
        """Print ``text`` as a line of its own (on stdout), below any bar."""
        self.close()
        print(text, flush=True)

    def close(self) -> None:
        """End the bar's line, if one is drawn."""
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False

    def elapsed(self) -> float:
        """Seconds since the display was made."""
        return time.perf_counter() - self.start


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


def _fmt(v: Array) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        return f"{float(a):.6f}"
    return f"mean {float(a.mean()):.6f} (min {float(a.min()):.6f}, max {float(a.max()):.6f})"


def epoch_line(epoch: int, record: Mapping[str, Array], seconds: float) -> str:
    """One log line: the epoch, every recorded value (a stack's as mean, min and max), the time.

    >>> epoch_line(3, {"loss": np.array(0.25), "val_loss": np.array([0.5, 0.25])}, 1.25)
    'epoch       3  loss 0.250000  val_loss mean 0.375000 (min 0.250000, max 0.500000)  1.2s'
    """
    parts = [f"epoch {epoch:>7}"] + [f"{k} {_fmt(v)}" for k, v in record.items()]
    parts.append(f"{seconds:.1f}s")
    return "  ".join(parts)
