"""Fast descriptor model: SOAP + neighbour averages + ridge regression (the bar a GNN must beat).

Per atom i the feature row is (all float32 when stored for fitting)::

    [ s_i | sum_j w1_ij s_j | sum_j w2_ij s_j | Zr flag ]        length 3 * n_soap + 1

where ``s_i`` is the SOAP power spectrum of atom i (dscribe; species Cu, Zr; r_cut 6 Å,
n_max 6, l_max 6, sigma 0.5 Å, GTO radial basis, periodic), and ``w_R,ij ∝ exp(-r_ij / R)``
for R = 1 Å and 2 Å over all atoms j within 7.5 Å of i, atom i itself included (r = 0),
each row normalised to sum 1.  Columns are standardised with the training mean and std,
and one ridge regression (closed form, alpha chosen on a validation structure) maps the row to
the standardised barrier; ``barrier_eV = z * label_std + label_mean``.

Receptive radius: an atom's prediction depends on atoms up to r_cut + averaging radius
= 6 + 7.5 = 13.5 Å away; that is what :attr:`DescriptorPredictor.cutoff` reports.

Prediction uses linearity: each atom's SOAP row is projected onto the three coefficient blocks
first, and only the three resulting scalars are averaged over neighbours, so memory stays
O(N) beyond one chunk of SOAP rows (structures of any size are processed in chunks of atoms).

Fitting: :func:`mgbarrier.training.descriptor.fit_descriptor_model`.
dscribe is an optional dependency: ``pip install 'mgbarrier[descriptor]'``.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from ase import Atoms

from ..errors import MgBarrierError, MgBarrierWarning
from ..graphs.soap import Featurizer, SoapProjection, dscribe_version
from .card import format_card
from .chunked import chunked
from .protocol import BARRIER, MIN_BARRIER, StructurePredictor, check_device, floor_barriers, floor_note

#: the settings of the shipped model (Å)
DEFAULT_CONFIG: Dict = {
    "species": ["Cu", "Zr"],
    "soap": {"r_cut": 6.0, "n_max": 6, "l_max": 6, "sigma": 0.5, "rbf": "gto"},
    "smoothing_lengths": [1.0, 2.0],
    "average_cutoff": 7.5,
}

class DescriptorPredictor(StructurePredictor):
    """A loaded descriptor (SOAP + ridge) checkpoint; a :class:`~mgbarrier.models.protocol.Predictor`.

    Attributes: ``species`` (symbols), ``cutoff`` (Å, the receptive radius r_cut + averaging
    radius = 13.5 Å for the shipped model), ``metadata`` (dict), ``config`` (dict), ``path``.
    Runs on the CPU whatever ``device`` says; ``n_transforms`` does not apply and is ignored.
    """

    kind = "descriptor"

    def __init__(self, ckpt: dict, path: Path, device: str = "cpu", n_transforms: Optional[int] = None):
        check_device(device)
        self.path = path
        self.config = dict(ckpt["config"])
        self.metadata = dict(ckpt.get("metadata", {}))
        self.label_mean = float(ckpt.get("label_mean", 0.0))
        self.label_std = float(ckpt.get("label_std", 1.0))
        try:
            soap = dict(self.config.get("soap", {}))
            lengths = [float(x) for x in self.config.get("smoothing_lengths", [])] + \
                [float(self.config.get("average_cutoff", 1.0)), float(soap.get("r_cut", 1.0))]
        except (TypeError, ValueError):
            lengths = [float("nan")]
        if not all(np.isfinite(x) and x > 0 for x in lengths):
            raise MgBarrierError(f"{path}: smoothing_lengths, average_cutoff and SOAP r_cut must be positive numbers "
                                 "of Å")
        try:
            sd = ckpt["state_dict"]
            self._mean = sd["mean"].double().numpy()
            self._std = sd["std"].double().numpy()
            self._coef = sd["coef"].double().numpy()
            self._intercept = float(sd["intercept"])
            self._fz = Featurizer(self.config)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise MgBarrierError(f"{path}: not a valid descriptor model ({type(exc).__name__}: {exc})") from None
        F = self._fz.n_features
        if not (len(self._mean) == len(self._std) == len(self._coef) == F):
            raise MgBarrierError(f"{path}: weights have {len(self._coef)} features but this dscribe "
                                 f"({dscribe_version()}) gives {F} for the stored SOAP settings")
        # fold standardisation into per-block projections (see module doc)
        ns, nb = self._fz.n_soap, 1 + len(self._fz.lengths)
        w = self._coef / self._std
        self._proj = np.stack([w[k * ns:(k + 1) * ns] for k in range(nb)], axis=1)  # (n_soap, nb)
        self._w_flag = float(w[-1])
        self._const = self._intercept - float(self._mean @ w)
        self._projection = SoapProjection(tuple(self.species), tuple(sorted(self._fz.config["soap"].items())),
                                          self._proj, np.zeros(nb))

    def soap_projections(self) -> List[SoapProjection]:
        """What the model takes from SOAP rows: the row's projection on each coefficient block, (N, 1 + lengths)."""
        return [self._projection]

    @property
    def species(self) -> List[str]:
        return list(self.config["species"])

    @property
    def cutoff(self) -> float:
        """Receptive radius (Å): SOAP r_cut + neighbour-averaging radius."""
        return self._fz.receptive_radius

    def arrays_from_parts(self, parts: np.ndarray, atoms: Atoms) -> Dict[str, np.ndarray]:
        """``{"barrier": eV}`` (N,), each >= MIN_BARRIER, from :meth:`predict_raw`'s values; one
        warning counts the atoms outside the model's domain and those floored."""
        values, floored = floor_barriers(parts)
        _warn_if_far(~self.in_domain(parts), floored, atoms.info.get("source", "") or "structure",
                     self.label_mean, self.label_std)
        return {BARRIER: values}

    def in_domain(self, values: np.ndarray) -> np.ndarray:
        """(N,) bool: predictions (eV) within training mean ± FAR_Z training std."""
        return np.abs((np.asarray(values) - self.label_mean) / self.label_std) <= FAR_Z

    @chunked
    def _predict_inputs(self, atoms: Atoms) -> np.ndarray:
        """Per-atom barriers (eV, (N,)), unbounded (the ridge extrapolates linearly), of a validated
        structure that carries its SOAP projections; the neighbour averages run in spatial domains
        with halos when the structure is large (:mod:`mgbarrier.models.chunked`)."""
        ready, flag = self._fz.prepare(atoms)
        P = atoms.arrays[self._projection.name]  # (N, 1 + lengths)
        z = P[:, 0] + self._w_flag * flag + self._const
        z += self._fz.averages(ready, P[:, 1:]).sum(axis=0)
        return z * self.label_std + self.label_mean

    def describe(self) -> str:
        return format_card(self) + "\n" + f"settings   : SOAP {self.config['soap']}, averaging R = " \
            f"{self.config['smoothing_lengths']} Å within {self.config['average_cutoff']} Å, " \
            f"ridge alpha = {self.config.get('alpha')}"


#: predictions further than this many training-label standard deviations from the training
#: mean (about ±1.8 eV around 1.6 eV for Cu64Zr36) mean the structure is unlike the training glasses
FAR_Z = 6.0


def _warn_if_far(far: np.ndarray, floored: int, source: str, mean: float, std: float) -> None:
    """Warn (:class:`MgBarrierWarning`) when predictions leave the domain (``far``, (N,) bool:
    outside ±FAR_Z std; the ridge model is linear in SOAP and extrapolates without bound)
    or ``floored`` values were raised to MIN_BARRIER."""
    if far.any():
        lo, hi = mean - FAR_Z * std, mean + FAR_Z * std
        text = (f"{source}: {int(far.sum())} of {far.size} atoms have predicted barriers outside "
                f"{lo:.2f}..{hi:.2f} eV (training mean ± {FAR_Z:g} std): the structure is unlike the "
                f"training glasses and the descriptor model extrapolates; do not trust these values")
        if floored:
            text += f"; {floored} of them were below {MIN_BARRIER:g} eV and are written as {MIN_BARRIER:g} eV"
        warnings.warn(MgBarrierWarning(text), stacklevel=4)
    elif floored:
        warnings.warn(MgBarrierWarning(f"{source}: {floor_note(floored, far.size)}"), stacklevel=4)
