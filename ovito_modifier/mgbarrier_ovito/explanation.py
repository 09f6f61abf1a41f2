"""The ``ExplanationModifier`` OVITO modifier: the most important edges behind one atom's barrier.

Runs :func:`mgbarrier.explain.explain_atoms` (GNNExplainer for regression over the atom's
receptive field) and shows the top edges as bonds with a float bond property
``Importance`` (in [0, 1]) coloured by a colour map; the centre atom is highlighted.
Needs a SymGNN checkpoint (the descriptor model has no edges to explain).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Tuple

import numpy as np
from ovito.data import DataCollection
from ovito.modifiers import ColorCodingModifier
from ovito.pipeline import ModifierInterface
from ovito.traits import ColorTrait
from traits.api import Bool, Enum, Float, Int, Range, Str

from mgbarrier.errors import MgBarrierError

from .convert import atoms_from_data, particle_colors
from .modifier import GRADIENTS, _load_model, _structure_hash

#: explanations, keyed by (model key, structure hash, atom, epochs, seed, top); bounded LRU
_EXPLANATIONS: "OrderedDict[tuple, Any]" = OrderedDict()
_MAX_EXPLANATIONS = 16


def bond_periodic_images(positions: np.ndarray, cell: np.ndarray, i: np.ndarray, j: np.ndarray,
                         vec: np.ndarray) -> np.ndarray:
    """(M, 3) int periodic image shifts n with ``x_j - x_i + n @ cell = vec`` (OVITO's bond
    convention; ``cell`` rows are the cell vectors, Å)."""
    if not np.any(cell):
        return np.zeros((len(i), 3), dtype=np.int32)
    d = vec - (positions[j] - positions[i])
    return np.rint(np.linalg.solve(cell.T, d.T).T).astype(np.int32)


class ExplanationModifier(ModifierInterface):
    """Bonds for the ``top`` most important edges of atom ``atom_index`` (0-based).

    Output: bonds (replacing existing ones) with properties ``Importance`` (float, in
    [0, 1]) and ``Color``; particle properties ``Explanation Centre`` (1 for the centre
    atom) and ``Atom Importance`` (max importance of the atom's edges, 0 outside the
    receptive field); the centre atom's ``Color`` set to ``highlight_color``; ``Radius``
    ``atom_radius`` (Å; twice that for the centre; 0 keeps the radii); global
    attributes ``Explanation.atom``, ``Explanation.prediction`` and
    ``Explanation.top_prediction`` (eV), ``Explanation.edges``, ``Explanation.field_edges``.
    """

    model_file = Str("", label="SymGNN model file (empty: the shipped cu64zr36-symgnn)")
    device = Enum("cpu", "cuda", label="Device")
    atom_index = Int(0, label="Centre atom (0-based index)")
    top = Range(1, 100000, 50, label="Edges shown")
    epochs = Range(1, 100000, 200, label="Optimisation steps")
    seed = Int(0, label="Seed")
    color_map = Enum(*GRADIENTS.keys(), label="Bond colour map")
    bond_width = Float(0.25, label="Bond width (Å)")
    highlight_color = ColorTrait((1.0, 0.0, 1.0), label="Centre atom colour")  # magenta: not an element colour
    atom_radius = Float(0.4, label="Atom radius in Å, centre atom twice (0: keep the radii)")
    fade_others = Bool(False, label="Make atoms outside the explanation transparent")
    transparency = Range(0.0, 1.0, 0.8, label="Transparency of the other atoms")

    def model_key(self) -> Tuple[str, str, None]:
        from mgbarrier.models.registry import DEFAULT_NETWORK

        return (self.model_file.strip() or DEFAULT_NETWORK, self.device, None)

    def explain(self, atoms):
        """The :class:`mgbarrier.explain.AtomExplanation` of ``atom_index`` (cached)."""
        from mgbarrier.explain.api import explain_atoms
        from mgbarrier.explain.explainer import ExplainerSettings

        key = (self.model_key(), _structure_hash(atoms), int(self.atom_index), int(self.epochs), int(self.seed),
               int(self.top))
        if key in _EXPLANATIONS:
            _EXPLANATIONS.move_to_end(key)
            return _EXPLANATIONS[key]
        model = _load_model(self.model_key())
        exp = explain_atoms(model, atoms, [int(self.atom_index)], ExplainerSettings(epochs=int(self.epochs),
                            seed=int(self.seed)), top=int(self.top), topology=None)[0]
        _EXPLANATIONS[key] = exp
        while len(_EXPLANATIONS) > _MAX_EXPLANATIONS:
            _EXPLANATIONS.popitem(last=False)
        return exp

    def modify(self, data: DataCollection, *, frame: int = 0, **kwargs):
        yield "Explanation: converting particles"
        try:
            atoms = atoms_from_data(data, source=f"frame {frame}")
            if not 0 <= int(self.atom_index) < len(atoms):
                raise MgBarrierError(f"frame {frame}: atom index {self.atom_index} out of range "
                                     f"(0..{len(atoms) - 1})")
            yield f"Explanation: explaining atom {self.atom_index}"
            exp = self.explain(atoms)
        except MgBarrierError as exc:
            raise RuntimeError(f"Explanation (mgbarrier): {exc}") from None
        yield 0.9
        k = min(int(self.top), exp.n_edges)
        i, j = exp.edges["i"][:k], exp.edges["j"][:k]
        imp = exp.edges["importance"][:k]
        pos = atoms.get_positions()
        vec = exp.edges["vec"][:k]
        shifts = bond_periodic_images(pos, atoms.cell.array, i, j, vec)

        particles = data.particles_
        if particles.bonds is not None:
            particles.bonds = None
        bonds = particles.create_bonds(count=k, vis_params={"width": float(self.bond_width)})
        bonds.create_property("Topology", data=np.stack([i, j], axis=1).astype(np.int64))
        bonds.create_property("Periodic Image", data=shifts)
        bonds.create_property("Importance", data=imp.astype(np.float32))
        if k:
            data.apply(ColorCodingModifier(operate_on="bonds", property="Importance",
                                           gradient=GRADIENTS[self.color_map](), auto_adjust_range=False,
                                           start_value=float(imp.min()), end_value=float(imp.max())))

        n = len(atoms)
        particles = data.particles_  # data.apply() above may have replaced the particles object
        centre = np.zeros(n, dtype=np.int32)
        centre[exp.atom] = 1
        particles.create_property("Explanation Centre", data=centre)
        a_imp = np.zeros(n, dtype=np.float32)
        a_imp[exp.atoms["atom"]] = exp.atoms["importance"]
        particles.create_property("Atom Importance", data=a_imp)
        colors = particle_colors(data)
        colors[exp.atom] = self.highlight_color
        particles.create_property("Color", data=colors)
        if self.atom_radius > 0:  # small atoms, so that the bonds show
            radius = np.full(n, float(self.atom_radius))
            radius[exp.atom] = 2.0 * float(self.atom_radius)
            particles.create_property("Radius", data=radius)
        if self.fade_others:
            shown = np.zeros(n, dtype=bool)
            shown[i] = shown[j] = True
            shown[exp.atom] = True
            particles.create_property("Transparency", data=np.where(shown, 0.0, float(self.transparency)))

        attrs = data.attributes
        attrs["Explanation.atom"] = int(exp.atom)
        attrs["Explanation.prediction"] = float(exp.prediction)
        attrs["Explanation.top_prediction"] = float(exp.top_prediction)
        attrs["Explanation.edges"] = int(k)
        attrs["Explanation.field_edges"] = int(exp.n_edges)
        yield (f"Explanation: atom {exp.atom} ({exp.species}), barrier {exp.prediction:.3f} eV, "
               f"top {k} of {exp.n_edges} edges, {exp.top_prediction:.3f} eV with them alone")
