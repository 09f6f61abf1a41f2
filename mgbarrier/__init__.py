"""mgbarrier: per-atom energy barriers (eV) of metallic glasses from structure.

Public API (kept small on purpose)::

    from mgbarrier import load_model
    model = load_model()              # shipped Cu64Zr36 model
    barriers = model.predict(atoms)   # numpy float64 array, shape (N,), eV

    from mgbarrier import BarrierCalculator   # ASE calculator, property "barriers"
    from mgbarrier import predict_file        # files in, files out (``mgbarrier predict``)

Layout (data flow files -> Atoms -> graph -> network -> named per-atom arrays -> writers):
``io/`` (formats, readers, writers, atomic outputs), ``graphs/`` (validation, neighbour
lists, graphs, SOAP, model inputs), ``nn/`` (torch modules), ``models/`` (loaded
predictors, checkpoints, registry), ``training/``, ``cli/``; at the top the integration
surface: ``calculator.py`` (ASE), ``lammps.py``, ``pipeline.py``.
"""
from __future__ import annotations

__version__ = "0.2.0"

from .errors import MgBarrierError, MissingDependencyError  # noqa: E402

__all__ = ["__version__", "MgBarrierError", "MissingDependencyError", "load_model", "BarrierCalculator",
           "predict_file"]


def load_model(path=None, *, device: str = "cpu", n_transforms=None):
    """Load a trained barrier model (default: the shipped Cu64Zr36 model).

    ``path`` may be a checkpoint file or a shipped model name (see ``mgbarrier info``).
    Returns a :class:`~mgbarrier.models.protocol.Predictor`: ``.predict(atoms)`` gives
    barriers in eV, shape (N,).
    """
    from .models.registry import load_model as _load

    return _load(path, device=device, n_transforms=n_transforms)


def __getattr__(name):  # keep ``import mgbarrier`` light (no torch until a model is used)
    if name == "BarrierCalculator":
        from .calculator import BarrierCalculator

        return BarrierCalculator
    if name == "predict_file":
        from .pipeline import predict_file

        return predict_file
    raise AttributeError(f"module 'mgbarrier' has no attribute {name!r}")
