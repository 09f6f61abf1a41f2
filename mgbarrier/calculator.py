"""ASE calculator giving per-atom energy barriers (eV) from a mgbarrier model.

::

    from mgbarrier import BarrierCalculator
    atoms.calc = BarrierCalculator()                  # shipped Cu64Zr36 model
    b = atoms.calc.get_property("barriers", atoms)    # (N,) float64, eV
    b = atoms.calc.get_barriers()                     # same, for the attached atoms

    calc = BarrierCalculator(model=["m0.pt", "m1.pt", "m2.pt"])   # committee
    calc.get_property("barriers", atoms)      # committee mean, (N,) eV
    calc.get_property("barriers_std", atoms)  # population std (ddof=0) over members, (N,) eV

Like the MACE/NequIP/matgl calculators: ``calculate()`` calls ``Calculator.calculate``
first and fills ``self.results``; results are cached by ASE's state check (positions,
cell, pbc, atomic numbers, ...), so asking again for an unchanged structure does not
run the model, and moving an atom does.

Uncertainty: ``barriers_std`` exists only for a committee (two or more models), as the
committee variance in MACE does; a single model does not list it in its
``implemented_properties`` (asking for it raises ``PropertyNotImplementedError``)
rather than returning zeros that would claim a certainty the model does not have.
``results['barriers_committee']`` holds every member's prediction, shape (M, N).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

ModelSpec = Union[None, str, Path, object, Sequence[Union[str, Path, object]]]


class BarrierCalculator(Calculator):
    """ASE calculator with per-atom properties ``barriers`` and ``barriers_std`` (eV, shape (N,)).

    Args:
        model: a checkpoint path, a shipped model name (``mgbarrier info``), ``None``
            (the shipped default), an already loaded model (anything with
            ``.predict(atoms) -> (N,)``), or a list of these (a committee).
        device: torch device for the models (``"cpu"``, ``"cuda"``, ...).
        n_transforms: use the paper's sampled average over this many transforms
            instead of the exact invariant evaluation (see ``mgbarrier.load_model``).
        **kwargs: standard :class:`ase.calculators.calculator.Calculator` arguments
            (``label``, ``directory``, ``atoms``, ...).
    """

    implemented_properties = ["barriers", "barriers_std"]

    def __init__(self, model: ModelSpec = None, device: str = "cpu", n_transforms: Optional[int] = None,
                 **kwargs):
        Calculator.__init__(self, **kwargs)
        specs = list(model) if isinstance(model, (list, tuple)) else [model]
        if not specs:
            from .errors import MgBarrierError

            raise MgBarrierError("BarrierCalculator: empty list of models")
        self.models = [_load(spec, device, n_transforms) for spec in specs]
        if len(self.models) == 1:
            # no uncertainty from one model (see module docstring)
            self.implemented_properties = ["barriers"]
        self.parameters.update(model=[_describe(s, m) for s, m in zip(specs, self.models)],
                               device=str(device), n_transforms=n_transforms)

    @property
    def committee_size(self) -> int:
        return len(self.models)

    def calculate(self, atoms: Optional[Atoms] = None, properties=("barriers",),
                  system_changes=all_changes) -> None:
        """Predict barriers for ``atoms`` with every model; fill ``self.results``."""
        if not system_changes and "barriers" in self.results:
            return  # e.g. a second property asked for the same structure
        Calculator.calculate(self, atoms, properties, system_changes)
        preds = np.stack([np.asarray(m.predict(self.atoms), dtype=np.float64) for m in self.models])
        self.results["barriers_committee"] = preds
        if len(self.models) == 1:
            self.results["barriers"] = preds[0].copy()
        else:
            self.results["barriers"] = preds.mean(axis=0)
            self.results["barriers_std"] = preds.std(axis=0)

    def get_barriers(self, atoms: Optional[Atoms] = None) -> np.ndarray:
        """Per-atom barriers (eV, shape (N,)) of ``atoms`` (default: the attached atoms)."""
        return self.get_property("barriers", atoms)

    def get_barriers_std(self, atoms: Optional[Atoms] = None) -> np.ndarray:
        """Committee standard deviation (eV, shape (N,)); committees only."""
        return self.get_property("barriers_std", atoms)


def _load(spec, device, n_transforms):
    if spec is not None and not isinstance(spec, (str, Path)) and hasattr(spec, "predict"):
        return spec
    from .predictor import load_model

    return load_model(spec, device=device, n_transforms=n_transforms)


def _describe(spec, model) -> str:
    if spec is None or isinstance(spec, (str, Path)):
        return str(getattr(model, "path", spec))
    return str(getattr(model, "path", type(model).__name__))


__all__: List[str] = ["BarrierCalculator"]
