"""Checkpoint files: one file = weights + everything needed to use them.

Layout (a plain dict saved with ``torch.save``; loaded with ``weights_only=True`` so a
file can never run code)::

    format="mgbarrier", format_version=1, kind="symgnn" | "descriptor" | ...
    config: architecture hyper-parameters (species, cutoff Å, k, heads, ...)
    label_mean, label_std: eV; prediction_eV = output * label_std + label_mean
    state_dict: tensors
    metadata: package version, training data sha256, metrics, command, hardware
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Union

import torch

from ..errors import MgBarrierError
from ..io.files import atomic_write

FORMAT = "mgbarrier"
FORMAT_VERSION = 1


def save_checkpoint(path: Union[str, Path], payload: dict) -> None:
    """Write ``payload`` (see module doc) atomically to ``path``."""
    payload = dict(payload)
    payload.setdefault("format", FORMAT)
    payload.setdefault("format_version", FORMAT_VERSION)
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Union[str, Path]) -> dict:
    """Read a checkpoint safely; any problem becomes one :class:`MgBarrierError` line."""
    path = Path(path)
    if not path.exists():
        raise MgBarrierError(f"{path}: model file not found")
    if path.is_dir():
        raise MgBarrierError(f"{path}: is a directory, expected a model file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unpickling refused"
        raise MgBarrierError(f"{path}: refused to load (not a plain weights file: {first[:160]})") from None
    except (RuntimeError, zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MgBarrierError(f"{path}: corrupt or truncated model file ({first[:160]})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise MgBarrierError(f"{path}: not an mgbarrier model file")
    if int(obj.get("format_version", -1)) > FORMAT_VERSION:
        raise MgBarrierError(f"{path}: model format version {obj.get('format_version')} is newer than this mgbarrier")
    for key in ("kind", "config", "state_dict"):
        if key not in obj:
            raise MgBarrierError(f"{path}: model file lacks {key!r}")
    return obj
