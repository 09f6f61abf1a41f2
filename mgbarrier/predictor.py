"""Trained models behind one small interface: ``model.predict(atoms) -> (N,) eV``.

``load_model(path)`` reads a checkpoint (see :mod:`mgbarrier.checkpoint`) and returns a
:class:`SymGNNPredictor` (or another kind registered in ``_KINDS``).  Names of shipped
models (``mgbarrier info``) are accepted in place of a path.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import torch
from ase import Atoms

from .checkpoint import load_checkpoint
from .errors import MgBarrierError
from .node_features import model_graph
from .model import SymGNNConfig
from .networks import build_network, config_from_dict

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: shipped models, by name
SHIPPED: Dict[str, str] = {
    "cu64zr36-ensemble": "cu64zr36_ensemble.pt",
    "cu64zr36-symgnn": "cu64zr36_symgnn.pt",
    "cu64zr36-symgnn-soap": "cu64zr36_symgnn_soap.pt",
    "cu64zr36-descriptor": "cu64zr36_descriptor.pt",
}
#: without ``weights/default.json`` (written by benchmarks/shipped_model.py from the
#: validation scores), the default is the first of these whose weights are installed
DEFAULT_ORDER = ("cu64zr36-symgnn", "cu64zr36-ensemble", "cu64zr36-symgnn-soap", "cu64zr36-descriptor")


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
    if str(path) in SHIPPED:
        p = WEIGHTS_DIR / SHIPPED[str(path)]
        if not p.exists():
            raise MgBarrierError(f"{p}: shipped model {path!r} is not installed (weights not trained yet)")
        return p
    return Path(path)


class SymGNNPredictor:
    """A loaded graph-network checkpoint: SymGNN (kind ``"symgnn"``) or a paper-table
    baseline (kind ``"baseline"``, see :mod:`mgbarrier.baselines`).

    Attributes: ``species`` (list of symbols), ``cutoff`` (Å), ``metadata`` (dict),
    ``config`` (:class:`SymGNNConfig` or :class:`~mgbarrier.baselines.BaselineConfig`),
    ``net`` (the torch module, eval mode), ``path``, ``kind``.
    """

    def __init__(self, ckpt: dict, path: Path, device: str = "cpu", n_transforms: Optional[int] = None):
        self.path = path
        self.kind = ckpt["kind"]
        try:
            self.config = config_from_dict(self.kind, ckpt["config"])
        except (TypeError, ValueError, KeyError) as exc:
            raise MgBarrierError(f"{path}: invalid model configuration ({exc})") from None
        if n_transforms is not None and isinstance(self.config, SymGNNConfig):
            # an explicit number of transforms means the paper's sampled average
            self.config.k_eval = int(n_transforms)
            self.config.edge_mode = "sampled"
        self.label_mean = float(ckpt.get("label_mean", 0.0))
        self.label_std = float(ckpt.get("label_std", 1.0))
        self.metadata = dict(ckpt.get("metadata", {}))
        self.device = _check_device(device)
        try:
            self.net = build_network(self.config)
        except ValueError as exc:
            raise MgBarrierError(f"{path}: {exc}") from None
        try:
            self.net.load_state_dict(ckpt["state_dict"], strict=True)
        except (RuntimeError, KeyError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise MgBarrierError(f"{path}: weights do not match the stored architecture ({first[:160]})") from None
        self.net.to(self.device).eval()
        if isinstance(self.config, SymGNNConfig) and self.config.edge_mode == "haar" \
                and self.config.symmetrize == "learned":
            with torch.no_grad():
                self.net.haar_table()  # built once here (~1 s), so that predict() is fast from the first call
        self._lock = threading.Lock()

    @property
    def species(self):
        return list(self.config.species)

    @property
    def cutoff(self) -> float:
        return float(self.config.cutoff)

    def predict(self, atoms: Atoms) -> np.ndarray:
        """Per-atom energy barriers in eV, float64 array of shape (N,).

        Deterministic: the same structure gives bit-identical output.
        """
        graph = model_graph(atoms, self.config, atoms.info.get("source", ""))
        return self.predict_graph(graph)

    def predict_graph(self, graph) -> np.ndarray:
        with self._lock, torch.no_grad():
            out = self.net(graph.to(self.device))
        return out.double().cpu().numpy() * self.label_std + self.label_mean

    def describe(self) -> str:
        from .model_card import format_card

        return format_card(self)


def _check_device(device: str) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MgBarrierError(f"device {device!r}: CUDA is not available on this machine")
    return dev


_KINDS = {"symgnn": SymGNNPredictor, "baseline": SymGNNPredictor}


def register_kind(name: str, cls) -> None:
    """Let other modules (descriptor model, ensembles) plug into :func:`load_model`."""
    _KINDS[name] = cls


def load_model(path: Union[str, Path, None] = None, *, device: str = "cpu", n_transforms: Optional[int] = None):
    """Load a checkpoint (or shipped model name; default: the shipped Cu64Zr36 model)."""
    p = resolve_model_path(path)
    ckpt = load_checkpoint(p)
    kind = ckpt["kind"]
    if kind not in _KINDS:
        _import_plugins()
    if kind not in _KINDS:
        raise MgBarrierError(f"{p}: unknown model kind {kind!r}")
    cls = _KINDS[kind]
    return cls(ckpt, p, device=device, n_transforms=n_transforms)


def _import_plugins() -> None:
    import importlib

    for mod in ("mgbarrier.descriptor", "mgbarrier.ensemble"):
        try:
            importlib.import_module(mod)
        except ImportError:
            pass
