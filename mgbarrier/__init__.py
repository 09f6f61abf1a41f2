"""mgbarrier: per-atom energy barriers (eV) of metallic glasses from structure.

Public API (kept small on purpose)::

    from mgbarrier import load_model
    model = load_model()              # shipped Cu64Zr36 model
    barriers = model.predict(atoms)   # numpy float64 array, shape (N,), eV

    from mgbarrier import BarrierCalculator   # ASE calculator, property "barriers"
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import MgBarrierError  # noqa: E402

__all__ = ["__version__", "MgBarrierError", "load_model", "BarrierCalculator"]


def load_model(path=None, *, device: str = "cpu", n_transforms=None):
    """Load a trained barrier model (default: the shipped Cu64Zr36 model).

    ``path`` may be a checkpoint file or a shipped model name (see ``mgbarrier info``).
    Returns an object whose ``.predict(atoms)`` gives barriers in eV, shape (N,).
    """
    from .predictor import load_model as _load

    return _load(path, device=device, n_transforms=n_transforms)


def __getattr__(name):  # lazy: keep ``import mgbarrier`` light
    if name == "BarrierCalculator":
        from .calculator import BarrierCalculator

        return BarrierCalculator
    raise AttributeError(f"module 'mgbarrier' has no attribute {name!r}")
