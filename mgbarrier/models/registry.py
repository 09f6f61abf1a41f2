"""Which models exist and how a file becomes a predictor.

* ``SHIPPED``: the models installed with the package, by name (``mgbarrier info``);
  the default is recorded in ``weights/default.json`` by ``benchmarks/shipped_model.py``.
* ``KINDS``: checkpoint kind -> ``"module:Class"`` of its predictor, imported only when a
  file of that kind is loaded (an unknown kind is refused; an import error inside a
  predictor module is a bug and propagates).
* :func:`load_model`: path or shipped name -> a :class:`~mgbarrier.models.protocol.Predictor`.
"""
from __future__ import annotations

import importlib
import json
import numbers
from pathlib import Path
from typing import Dict, Optional, Union

from ..allocator import retain_freed_memory
from ..errors import MgBarrierError
from .checkpoint import load_checkpoint
from .chunked import set_max_memory

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
#: shipped models, by name
SHIPPED: Dict[str, str] = {
    "cu64zr36-ensemble": "cu64zr36_ensemble.pt",
    "cu64zr36-symgnn": "cu64zr36_symgnn.pt",
    "cu64zr36-symgnn-soap": "cu64zr36_symgnn_soap.pt",
    "cu64zr36-descriptor": "cu64zr36_descriptor.pt",
    "cu64zr36-equivariant": "cu64zr36_equivariant.pt",  # needs e3nn: pip install 'mgbarrier[equivariant]'
}
#: without ``weights/default.json`` (written by benchmarks/shipped_model.py from the
#: validation scores), the default is the first of these whose weights are installed
DEFAULT_ORDER = ("cu64zr36-symgnn", "cu64zr36-ensemble", "cu64zr36-symgnn-soap", "cu64zr36-descriptor")
#: the shipped graph network used where a method needs one (explanations)
DEFAULT_NETWORK = "cu64zr36-symgnn"

#: checkpoint kind -> "module:Class" of its predictor
KINDS: Dict[str, str] = {
    "symgnn": "mgbarrier.models.graph_network:GraphNetworkPredictor",
    "baseline": "mgbarrier.models.graph_network:GraphNetworkPredictor",
    "equivariant": "mgbarrier.models.graph_network:GraphNetworkPredictor",
    "descriptor": "mgbarrier.models.descriptor:DescriptorPredictor",
    "ensemble": "mgbarrier.models.ensemble:EnsemblePredictor",
    "mesoscale": "mgbarrier.models.mesoscale:MesoscalePredictor",
}
#: how deep model files may nest (a mesoscale read-out over an ensemble of single models: 3)
MAX_NESTING = 3


def default_model_name() -> str:
    """The shipped model ``load_model()`` gives: the choice recorded in weights/default.json."""
    try:
        chosen = json.loads((WEIGHTS_DIR / "default.json").read_text())["default"]
        if chosen in SHIPPED and (WEIGHTS_DIR / SHIPPED[chosen]).exists():
            return chosen
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for name in DEFAULT_ORDER:
        if name in SHIPPED and (WEIGHTS_DIR / SHIPPED[name]).exists():
            return name
    raise MgBarrierError(f"{WEIGHTS_DIR}: no shipped model is installed; give --model PATH")


def resolve_model_path(path: Union[str, Path, None]) -> Path:
    """A shipped model name, ``None`` (the default model) or a file path -> Path."""
    if path is None:
        path = default_model_name()
    if not isinstance(path, (str, Path)):
        raise MgBarrierError(f"a model is a file path or a shipped model name, got a {type(path).__name__}")
    if str(path) in SHIPPED:
        p = WEIGHTS_DIR / SHIPPED[str(path)]
        if not p.exists():
            raise MgBarrierError(f"{p}: shipped model {path!r} is not installed (weights not trained yet)")
        return p
    return Path(path)


def predictor_class(kind: object, where: Union[str, Path] = ""):
    """The predictor class of a checkpoint ``kind`` (imported on first use)."""
    if not isinstance(kind, str) or kind not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise MgBarrierError(f"{where}: unknown model kind {kind!r} (known: {known})")
    module, name = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def predictor_from_checkpoint(ckpt: dict, path: Union[str, Path], *, device: str = "cpu",
                              n_transforms: Optional[int] = None, _depth: int = 1):
    """A predictor from an already loaded checkpoint dict.

    A kind whose class says ``holds_members = True`` (an ensemble, a mesoscale read-out) gets
    its embedded member checkpoints (``ckpt["members"]``) loaded here first and passed as
    ``members=``; files nest at most :data:`MAX_NESTING` deep, and an ensemble's members are
    single models."""
    kind = ckpt.get("kind")
    cls = predictor_class(kind, path)
    extra = {}
    if getattr(cls, "holds_members", False):
        raw = ckpt.get("members")
        if not isinstance(raw, list) or not raw:
            raise MgBarrierError(f"{path}: {kind} file has no member models")
        members = []
        for k, m in enumerate(raw):
            where = f"{path}#member{k}"
            nested = isinstance(m, dict) and getattr(predictor_class(m.get("kind"), where), "holds_members", False)
            if not isinstance(m, dict) or (nested and (kind == "ensemble" or _depth + 1 >= MAX_NESTING)):
                raise MgBarrierError(f"{where}: a member of a {kind} file must be a single model "
                                     f"(kind {m.get('kind') if isinstance(m, dict) else type(m).__name__!r})")
            members.append(predictor_from_checkpoint(m, where, device=device, n_transforms=n_transforms,
                                                     _depth=_depth + 1))
        extra["members"] = members
    return cls(ckpt, Path(path), device=device, n_transforms=n_transforms, **extra)


def load_model(path: Union[str, Path, None] = None, *, device: str = "cpu", n_transforms: Optional[int] = None,
               max_memory: Optional[float] = None):
    """Load a checkpoint (or shipped model name; default: the shipped Cu64Zr36 model).

    ``max_memory``: GB one ``predict`` may use; larger structures run in spatial domains with
    halos, same values (:mod:`mgbarrier.models.chunked`; default 4 GB or ``$MGBARRIER_MAX_MEMORY``)."""
    p = resolve_model_path(path)
    retain_freed_memory()  # large predictions reuse heap memory instead of page-faulting fresh maps
    if n_transforms is not None and (isinstance(n_transforms, bool) or not isinstance(n_transforms, numbers.Integral)
                                     or n_transforms < 1):
        raise MgBarrierError(f"n_transforms must be a positive whole number (or None: the exact average), "
                             f"got {n_transforms!r}")
    model = predictor_from_checkpoint(load_checkpoint(p), p, device=device, n_transforms=n_transforms)
    if max_memory is not None:
        set_max_memory(model, max_memory)
    return model


def as_predictor(model, *, device: str = "cpu", n_transforms: Optional[int] = None):
    """``model`` itself when it is already a loaded predictor (has ``predict``), else
    :func:`load_model` of it (a path, a shipped model name, None: the default model)."""
    if model is not None and not isinstance(model, (str, Path)) and hasattr(model, "predict"):
        return model
    return load_model(model, device=device, n_transforms=n_transforms)
