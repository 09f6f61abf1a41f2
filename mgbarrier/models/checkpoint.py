"""Checkpoint files: one file = weights + everything needed to use them.

Layout (a plain dict saved with ``torch.save``; loaded with ``weights_only=True`` so a
file can never run code)::

    format="mgbarrier", format_version=1, kind="symgnn" | "descriptor" | ...
    config: architecture hyper-parameters (species, cutoff Å, k, heads, ...)
    label_mean, label_std: eV; prediction_eV = output * label_std + label_mean
    state_dict: tensors
    metadata: package version, training data sha256, metrics, command, hardware

:func:`load_checkpoint` refuses, each in one :class:`MgBarrierError` line naming the file:
a file that is not a torch zip of plain tensors (a text file, a pickle with code), a
missing key, non-finite or non-numeric ``label_mean``/``label_std`` (std must be > 0),
a non-positive or non-finite ``config["cutoff"]`` (Å), and any non-finite weight; the
members of an ensemble (``members``) are checked the same way (``FILE#memberK``).
Kind-specific configuration ranges are checked by each predictor.
"""
from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any, Union

from ..errors import MgBarrierError
from ..io.files import atomic_write

FORMAT = "mgbarrier"
FORMAT_VERSION = 1


def save_checkpoint(path: Union[str, Path], payload: dict) -> None:
    """Write ``payload`` (see module doc) atomically to ``path``."""
    payload = dict(payload)
    payload.setdefault("format", FORMAT)
    payload.setdefault("format_version", FORMAT_VERSION)
    import torch  # here, not at import: the command line starts without torch

    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Union[str, Path]) -> dict:
    """Read a checkpoint safely; any problem becomes one :class:`MgBarrierError` line."""
    path = Path(path)
    if not path.exists():
        raise MgBarrierError(f"{path}: model file not found")
    if path.is_dir():
        raise MgBarrierError(f"{path}: is a directory, expected a model file")
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unpickling refused"
        raise MgBarrierError(f"{path}: refused to load (not a plain weights file: {first[:160]})") from None
    except Exception as exc:  # torch raises KeyError, IndexError, RuntimeError, ... on foreign bytes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MgBarrierError(f"{path}: not a model file, or corrupt or truncated ({type(exc).__name__}: "
                             f"{first[:120]})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise MgBarrierError(f"{path}: not an mgbarrier model file")
    check_checkpoint(obj, str(path))
    return obj


def check_checkpoint(obj: Any, where: str) -> None:
    """Refuse a checkpoint dict with missing keys, bad statistics, cutoff or weights (module doc)."""
    if not isinstance(obj, dict) or obj.get("format", FORMAT) != FORMAT:
        raise MgBarrierError(f"{where}: not an mgbarrier model file")
    try:
        version = int(obj.get("format_version", FORMAT_VERSION))
    except (TypeError, ValueError):
        raise MgBarrierError(f"{where}: format_version {obj.get('format_version')!r} is not a number") from None
    if version > FORMAT_VERSION:
        raise MgBarrierError(f"{where}: model format version {version} is newer than this mgbarrier")
    for key in ("kind", "config", "state_dict"):
        if key not in obj:
            raise MgBarrierError(f"{where}: model file lacks {key!r}")
    if not isinstance(obj["config"], dict) or not isinstance(obj["state_dict"], dict):
        raise MgBarrierError(f"{where}: config and state_dict must be dicts")
    for key in ("label_mean", "label_std"):
        if key in obj:
            value = _number(obj[key], where, key)
            if key == "label_std" and value <= 0:
                raise MgBarrierError(f"{where}: label_std must be > 0 eV, got {value!r}")
    if "cutoff" in obj["config"]:
        cutoff = _number(obj["config"]["cutoff"], where, "config cutoff")
        if cutoff <= 0:
            raise MgBarrierError(f"{where}: config cutoff must be a positive number of Å, got {cutoff!r}")
    bad = _first_non_finite(obj["state_dict"], "state_dict")
    if bad:
        raise MgBarrierError(f"{where}: non-finite weights in {bad}")
    for k, member in enumerate(obj.get("members") or ()):
        check_checkpoint(member, f"{where}#member{k}")


def _number(value: Any, where: str, what: str) -> float:
    """``value`` as a finite float, else one error line."""
    if isinstance(value, bool):
        raise MgBarrierError(f"{where}: {what} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise MgBarrierError(f"{where}: {what} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(x):
        raise MgBarrierError(f"{where}: {what} must be finite, got {x!r}")
    return x


def _first_non_finite(value: Any, name: str) -> str:
    """Name of the first tensor or number in ``value`` (nested dicts/lists) with a NaN or inf, else ''."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            return "" if bool(torch.isfinite(value).all()) else name
        return ""
    if isinstance(value, float):
        return "" if math.isfinite(value) else name
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return ""
    for key, item in items:
        bad = _first_non_finite(item, f"{name}.{key}")
        if bad:
            return bad
    return ""
