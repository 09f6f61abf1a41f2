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
``barriers_committee`` holds every member's prediction, shape (M, N).

A raw committee spread is not an error bar (for the shipped Cu64Zr36 models it does not
track the error at all: Pearson 0.02).  As in matscipy's committee, the spread is scaled by a
factor alpha fitted on labelled validation structures (Imbalzano et al., J. Chem. Phys. 154,
074102 (2021))::

    calc.calibrate(validation_frames)       # frames with per-atom 'barrier' labels (eV)
    calc.get_property("barriers_std", a)    # alpha * committee std (ddof 1)

Until then ``barriers_std`` is the raw spread and comes with one :class:`MgBarrierWarning`.

MD frames: barriers are defined for minimised structures.  ``BarrierCalculator(quench=pot)``
(a :class:`mgbarrier.md.Potential`) quenches a copy of each structure (fixed cell, to
``quench_fmax`` eV/Å) before predicting; the attached atoms are never moved, and
``calc.last_quench`` holds the last :class:`mgbarrier.md.QuenchResult`.  Without it, a
structure that looks like an MD snapshot gets one :class:`MgBarrierWarning` per calculator.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from .errors import MgBarrierError, MgBarrierWarning
from .graphs.checks import require_atoms, validate_atoms
from .io.artn import MAX_BARRIER
from .md import Potential, quench_limits, thermal_warning
from .md import quench as quench_atoms

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
        quench: a :class:`mgbarrier.md.Potential`: predict on the quench of a copy of each
            structure (fixed cell; ``quench_fmax`` eV/Å, at most ``quench_max_steps`` steps).
        **kwargs: standard :class:`ase.calculators.calculator.Calculator` arguments
            (``label``, ``directory``, ``atoms``, ...).
    """

    implemented_properties = ["barriers", "barriers_std", "barriers_committee"]

    def __init__(self, model: ModelSpec = None, device: str = "cpu", n_transforms: Optional[int] = None,
                 calibration: Optional[float] = None, quench: Optional[Potential] = None,
                 quench_fmax: float = 1e-3, quench_max_steps: int = 10000, **kwargs):
        Calculator.__init__(self, **kwargs)
        if quench is not None and not isinstance(quench, Potential):
            raise MgBarrierError("BarrierCalculator: quench must be a mgbarrier.md.Potential, "
                                 f"got {type(quench).__name__}")
        fmax, steps = quench_limits(quench_fmax, quench_max_steps, "BarrierCalculator")
        try:
            calibration = None if calibration is None else float(calibration)
        except (TypeError, ValueError):
            raise MgBarrierError(f"BarrierCalculator: calibration must be a number, got {calibration!r}") from None
        self.quench, self.quench_fmax, self.quench_max_steps = quench, fmax, steps
        self.last_quench = None
        self._thermal_warned = False
        specs = list(model) if isinstance(model, (list, tuple)) else [model]
        if not specs:
            raise MgBarrierError("BarrierCalculator: empty list of models")
        self.models = [_load(spec, device, n_transforms) for spec in specs]
        if len(self.models) == 1:
            # no uncertainty from one model (see module docstring)
            self.implemented_properties = ["barriers", "barriers_committee"]
        if calibration is not None and not (np.isfinite(calibration) and calibration > 0):
            raise MgBarrierError(f"BarrierCalculator: calibration must be a positive number, got {calibration!r}")
        self.calibration = calibration
        self._warned = False
        self.parameters.update(model=[_describe(s, m) for s, m in zip(specs, self.models)],
                               device=str(device), n_transforms=n_transforms,
                               quench=None if quench is None else quench.to_dict(), quench_fmax=self.quench_fmax)

    @property
    def committee_size(self) -> int:
        return len(self.models)

    def calculate(self, atoms: Optional[Atoms] = None, properties=("barriers",),
                  system_changes=all_changes) -> None:
        """Predict barriers for ``atoms`` with every model; fill ``self.results``."""
        if not system_changes and "barriers" in self.results:
            return  # e.g. a second property asked for the same structure
        Calculator.calculate(self, atoms, properties, system_changes)
        validate_atoms(self.atoms, self.atoms.info.get("source", "") or "BarrierCalculator")
        preds = self._committee(self._model_input(self.atoms))
        self.results["barriers_committee"] = preds
        if len(self.models) == 1:
            self.results["barriers"] = preds[0].copy()
        else:
            self.results["barriers"] = preds.mean(axis=0)
            if self.calibration is None:
                if not self._warned:
                    warnings.warn(MgBarrierWarning(
                        "barriers_std is the raw committee spread, not an error bar; calibrate it with "
                        "calc.calibrate(labelled validation frames)"), stacklevel=2)
                    self._warned = True
                self.results["barriers_std"] = preds.std(axis=0)  # population std, as documented
            else:
                self.results["barriers_std"] = self.calibration * preds.std(axis=0, ddof=1)

    def _model_input(self, atoms: Atoms) -> Atoms:
        """What the models see: the quench of a copy (with ``quench``), else ``atoms`` (checked
        once for an MD snapshot)."""
        where = atoms.info.get("source", "") or "BarrierCalculator"
        if self.quench is not None:
            self.last_quench = quench_atoms(atoms, self.quench, fmax=self.quench_fmax, max_steps=self.quench_max_steps)
            return self.last_quench.atoms
        if not self._thermal_warned:
            text = thermal_warning(atoms, where)
            if text is not None:
                self._thermal_warned = True
                warnings.warn(MgBarrierWarning(text), stacklevel=3)
        return atoms

    def _committee(self, atoms: Atoms) -> np.ndarray:
        return np.stack([np.asarray(m.predict(atoms), dtype=np.float64) for m in self.models])

    def calibrate(self, frames: Sequence[Atoms], label: str = "barrier") -> float:
        """Fit the scale ``alpha`` of the committee spread on labelled frames and use it from now on.

        With M members, mean prediction y_bar, spread s (ddof 1) and label y over every
        labelled atom: alpha^2 = -1/M + (M-3)/(M-1) * <(y_bar - y)^2 / s^2> (Imbalzano et al. 2021,
        as matscipy's committee); for M <= 3, where that estimator is undefined,
        alpha^2 = <(y_bar - y)^2 / s^2>.  Returns alpha."""
        if len(self.models) < 2:
            raise MgBarrierError("calibrate: a committee needs two or more models")
        ratios = []
        frames = [frames] if isinstance(frames, Atoms) else list(frames or [])
        for k, atoms in enumerate(frames):
            if not isinstance(atoms, Atoms):
                raise MgBarrierError(f"calibrate: frame {k} is a {type(atoms).__name__}, not an ase.Atoms")
            where = atoms.info.get("source", f"frame {k}")
            if label not in atoms.arrays:
                raise MgBarrierError(f"{where}: no per-atom {label!r} labels to calibrate on")
            try:
                y = np.asarray(atoms.arrays[label], dtype=float)
            except (TypeError, ValueError):
                raise MgBarrierError(f"{where}: per-atom {label!r} labels are not numbers") from None
            if y.shape != (len(atoms),):
                raise MgBarrierError(f"{where}: per-atom {label!r} labels have shape {y.shape}, not ({len(atoms)},)")
            if np.any(np.abs(y[np.isfinite(y)]) > MAX_BARRIER):
                raise MgBarrierError(f"{where}: per-atom {label!r} labels beyond {MAX_BARRIER:g} eV are not barriers")
            validate_atoms(atoms, where)
            preds = self._committee(self._model_input(atoms))
            err2 = (preds.mean(axis=0) - y) ** 2
            var = preds.var(axis=0, ddof=1)
            ok = np.isfinite(y) & (var > 0)
            ratios.append(err2[ok] / var[ok])
        r = np.concatenate(ratios) if ratios else np.zeros(0)
        if len(r) == 0:
            raise MgBarrierError("calibrate: no labelled atoms with a non-zero committee spread")
        m = len(self.models)
        alpha2 = -1.0 / m + (m - 3) / (m - 1) * float(r.mean()) if m > 3 else float(r.mean())
        if not (np.isfinite(alpha2) and alpha2 > 0):
            raise MgBarrierError(f"calibrate: the estimate of alpha^2 is {alpha2:.3g} (too few members or atoms)")
        self.calibration = float(np.sqrt(alpha2))
        self.results.clear()
        return self.calibration

    def get_barriers(self, atoms: Optional[Atoms] = None) -> np.ndarray:
        """Per-atom barriers (eV, shape (N,)) of ``atoms`` (default: the attached atoms)."""
        return self.get_property("barriers", self._asked(atoms))

    def get_barriers_std(self, atoms: Optional[Atoms] = None) -> np.ndarray:
        """Committee standard deviation (eV, shape (N,)); committees only."""
        return self.get_property("barriers_std", self._asked(atoms))

    def _asked(self, atoms) -> Optional[Atoms]:
        """``atoms`` if it is a structure, None for the attached one; one error line otherwise."""
        if atoms is not None:
            require_atoms(atoms, "BarrierCalculator")
        elif self.atoms is None:
            raise MgBarrierError("BarrierCalculator: no structure: pass one (calc.get_barriers(atoms)) "
                                 "or attach this calculator to one (atoms.calc = calc)")
        return atoms


def _load(spec, device, n_transforms):
    from .models.registry import as_predictor

    return as_predictor(spec, device=device, n_transforms=n_transforms)


def _describe(spec, model) -> str:
    if spec is None or isinstance(spec, (str, Path)):
        return str(getattr(model, "path", spec))
    return str(getattr(model, "path", type(model).__name__))


__all__: List[str] = ["BarrierCalculator"]
