"""Progress of long jobs on stderr: one bar redrawn in place on a terminal, one plain line
every few seconds otherwise (batch logs), each with items done, the total when known, the
rate and the time left.

    bar = Progress("predict", total=200, unit="frame")
    for ...:
        bar.update(1, note="4,000 atoms")
    bar.finish()

Work inside one item (the spatial domains of a million-atom frame, its SOAP blocks) reports
its steps with :func:`step`; whoever shows progress listens with :func:`steps` (the CLI's bar
shows them as its note), and nobody else pays for it.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, Optional, TextIO

#: who listens to :func:`step` in this context: ``callback(stage, done_atoms, total_atoms)``
_STEP_LISTENER: ContextVar[Optional[Callable[[str, int, int], None]]] = \
    ContextVar("mgbarrier_progress_step", default=None)


@contextmanager
def steps(callback: Callable[[str, int, int], None]) -> Iterator[None]:
    """Within the block, :func:`step` reports go to ``callback(stage, done_atoms, total_atoms)``."""
    token = _STEP_LISTENER.set(callback)
    try:
        yield
    finally:
        _STEP_LISTENER.reset(token)


def step(stage: str, done_atoms: int, total_atoms: int) -> None:
    """Report that ``done_atoms`` of the ``total_atoms`` of a structure are through ``stage``
    (e.g. "symgnn domains", "SOAP"); a no-op unless someone listens (:func:`steps`)."""
    listener = _STEP_LISTENER.get()
    if listener is not None:
        listener(stage, int(done_atoms), int(total_atoms))

#: seconds between lines when stderr is not a terminal
LOG_EVERY = 10.0


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    def __init__(self, label: str, total: Optional[int] = None, unit: str = "item", *, enabled: bool = True,
                 stream: Optional[TextIO] = None, width: int = 30, log_every: float = LOG_EVERY):
        self.label, self.total, self.unit = label, total, unit
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width, self.log_every = width, log_every
        self.done = 0
        self.t0 = time.perf_counter()
        self._last = -float("inf") if self.tty else self.t0  # a log's first line after log_every
        self._note = ""

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def line(self) -> str:
        elapsed = self.elapsed
        rate = self.done / elapsed if elapsed > 0 else 0.0
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        text = f"{self.label}: {count} {self.unit}(s)"
        if self.total and self.tty:
            filled = int(self.width * min(self.done, self.total) / max(1, self.total))
            text = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {count}"
        text += f", {_duration(elapsed)}"
        if self.total and self.done:
            text += f", ~{_duration(elapsed / self.done * (self.total - self.done))} left"
        elif rate:
            text += f", {rate:.2g} {self.unit}/s"
        return text + (f" ({self._note})" if self._note else "")

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        self._note = note
        if not self.enabled:
            return
        now = time.perf_counter()
        finished = self.total is not None and self.done >= self.total
        if self.tty and (now - self._last > 0.25 or finished):
            self._last = now
            self.stream.write("\r" + self.line() + "  ")
            self.stream.flush()
        elif not self.tty and now - self._last > self.log_every:
            self._last = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()
