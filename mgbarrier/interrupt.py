"""Ctrl-C / SIGTERM as a flag that long loops check between steps (training, generation).

    with GracefulInterrupt() as stop:
        for step in ...:
            ...
            if stop.flag:
                save(); break

The first signal sets ``flag`` and says so on stderr (or through ``log``); a second one
raises KeyboardInterrupt at once.  Outside the main thread signals cannot be caught and the
context manager does nothing.
"""
from __future__ import annotations

import signal
import sys
from typing import Callable, Optional


class GracefulInterrupt:
    def __init__(self, log: Optional[Callable[[str], None]] = None):
        self.flag = False
        self._old = {}
        self._log = log or (lambda msg: print("\n" + msg, file=sys.stderr, flush=True))

    def __enter__(self) -> "GracefulInterrupt":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True
        self._log("interrupt: finishing this step and saving (Ctrl-C again to abort)")

    def __exit__(self, *exc) -> bool:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False
