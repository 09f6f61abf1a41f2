"""What a resumable training run keeps between calls, shared by every trainer.

* the run directory ``OUTPUT.run/`` beside the output model (:func:`run_dir_for`), with
  ``state.pt`` written atomically after every epoch (:func:`save_state`, :func:`load_state`);
* the random state of numpy generators as JSON text (:func:`numpy_rng_state`);
* the exponential moving average of weights (:func:`ema_update`);
* :class:`TrainingInterrupted`, raised after Ctrl-C / SIGTERM once the state is saved
  (the signals are caught by :class:`mgbarrier.interrupt.GracefulInterrupt`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch

from ..errors import MgBarrierError
from ..interrupt import GracefulInterrupt  # noqa: F401  (the trainers' signal handling, re-exported)
from ..io.files import atomic_write

STATE_FILE = "state.pt"


class TrainingInterrupted(Exception):
    """Raised after Ctrl-C / SIGTERM once the state is saved; the message is the state file."""


def run_dir_for(output: Union[str, Path], run_dir: Union[str, Path, None] = None,
                log: Optional[Callable[[str], None]] = None) -> Path:
    """The run directory of a training that writes ``output``: ``run_dir`` if given, else
    ``OUTPUT.run/`` (a state in the ``OUTPUT-without-suffix.run/`` of earlier releases is
    still found and used)."""
    if run_dir:
        return Path(run_dir)
    output = Path(output)
    new = output.with_name(output.name + ".run")
    legacy = output.with_suffix(".run")
    if legacy != new and not (new / STATE_FILE).exists() and (legacy / STATE_FILE).exists():
        if log:
            log(f"using the run directory {legacy} of an earlier release")
        return legacy
    return new


def make_run_dir(run_dir: Union[str, Path]) -> Path:
    """Create the run directory (and its parents): a file in its place, or a folder that
    cannot be made, is one error line."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise MgBarrierError(f"{run_dir}: is a file, not a run folder (give another --run-dir)")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MgBarrierError(f"{run_dir}: cannot make the run folder: {exc.strerror or exc}") from None
    return run_dir


def save_state(path: Union[str, Path], payload: dict) -> None:
    """Write a training state (tensors, numbers, strings, lists, dicts) atomically."""
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_state(path: Union[str, Path]) -> dict:
    """Read a training state safely (``weights_only``); a damaged file is one clear error."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged state file: say so, do not guess
        raise MgBarrierError(f"{path}: cannot resume from this training state ({type(exc).__name__}); "
                             "delete it to start over") from None


def numpy_rng_state(rng: np.random.Generator) -> str:
    """The bit generator state as JSON text (storable with ``weights_only`` loading)."""
    return json.dumps(rng.bit_generator.state)


def restore_numpy_rng(state: Union[str, dict]) -> np.random.Generator:
    """A generator in the state :func:`numpy_rng_state` saved (also accepts the dict with
    stringified integers of earlier releases)."""
    if isinstance(state, str):
        state = json.loads(state)
    else:
        state = {**state, "state": {k: int(v) for k, v in state["state"].items()}}
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


def ema_update(ema: torch.nn.Module, net: torch.nn.Module, decay: float, step: int) -> None:
    """EMA of the weights with warm-up: ``decay`` capped at (1 + step) / (10 + step); buffers copied."""
    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for pe, pn in zip(ema.parameters(), net.parameters()):
            pe.mul_(d).add_(pn.detach(), alpha=1 - d)
        for be, bn in zip(ema.buffers(), net.buffers()):
            be.copy_(bn)
