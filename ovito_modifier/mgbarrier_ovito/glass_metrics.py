"""The ``GlassMetricsModifier`` OVITO modifier: the seed's three structural metrics, shown.

Every B particle is joined to its k (2) nearest neighbours (:mod:`mgbarrier.glass.metrics`);
the modifier draws these links as bonds (B-B links in their own colour), colours the
isolated A particles (no link), and reports the counts as global attributes.  Works for 2D
configurations (z flat and not periodic, e.g. the Kob-Andersen runs exported by
``mgbarrier glass-export``) and 3D glasses (B = the minority species, e.g. Zr in Cu64Zr36,
unless ``species_b`` names it).  No model is needed.
"""
from __future__ import annotations

import numpy as np
from ovito.data import DataCollection
from ovito.pipeline import ModifierInterface
from ovito.traits import ColorTrait
from traits.api import Bool, Float, Range, Str

from mgbarrier.errors import MgBarrierError

from .convert import atoms_from_data, particle_colors


def minimum_image_shifts(positions: np.ndarray, cell: np.ndarray, pbc, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(M, 3) int periodic image shifts n (OVITO's bond convention: the bond i -> j goes to
    ``x_j + n @ cell``) that make each bond the nearest image (``cell`` rows: cell vectors)."""
    pbc = np.asarray(pbc, dtype=bool)
    if not pbc.any() or not len(i):
        return np.zeros((len(i), 3), dtype=np.int32)
    d = positions[j] - positions[i]
    frac = np.linalg.solve(cell.T, d.T).T
    n = np.zeros_like(frac)
    n[:, pbc] = -np.rint(frac[:, pbc])
    return n.astype(np.int32)


class GlassMetricsModifier(ModifierInterface):
    """Bonds for the B-to-k-nearest-neighbour graph, isolated A highlighted, counts as attributes.

    Output: bonds (replacing existing ones; only the B-B ones with ``only_bb_bonds``) with
    properties ``B-B`` (1 for B-B bonds) and ``Color``; particle properties ``Isolated A``
    (1 for A particles without a link) and ``Glass Component`` (index of the connected
    component, -1 for particles without a link); isolated A coloured ``isolated_color``;
    global attributes ``GlassMetrics.components``, ``GlassMetrics.bb_edges``,
    ``GlassMetrics.isolated_a``, ``GlassMetrics.isolated_b``, ``GlassMetrics.edges``,
    ``GlassMetrics.species_b`` and the per-particle ``GlassMetrics.<metric>_per_particle``.
    """

    species_b = Str("", label="B species (empty: the minority species)")
    k = Range(1, 24, 2, label="Nearest neighbours per B particle")
    show_bonds = Bool(True, label="Show the links as bonds")
    only_bb_bonds = Bool(False, label="Only B-B bonds")
    bond_width = Float(0.12, label="Bond width")
    bb_color = ColorTrait((0.1, 0.3, 1.0), label="B-B bond colour")
    bond_color = ColorTrait((0.2, 0.75, 0.2), label="Other bond colour")
    highlight_isolated = Bool(True, label="Colour isolated A particles")
    isolated_color = ColorTrait((1.0, 0.0, 0.0), label="Isolated A colour")

    def modify(self, data: DataCollection, *, frame: int = 0, **kwargs):
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        from mgbarrier.glass.metrics import atoms_metrics

        yield "Glass metrics: converting particles"
        try:
            # lengths in sigma units, no atomic overlap rule: the metrics check their own input
            atoms = atoms_from_data(data, source=f"frame {frame}", validate=False)
            m, pairs, is_b, b_sym = atoms_metrics(atoms, self.species_b.strip() or None, int(self.k),
                                                  f"frame {frame}")
        except MgBarrierError as exc:
            raise RuntimeError(f"Glass metrics (mgbarrier): {exc}") from None
        n = len(atoms)
        deg = np.bincount(pairs.reshape(-1), minlength=n)
        isolated_a = (deg == 0) & ~is_b
        comp = np.full(n, -1, dtype=np.int64)
        if len(pairs):
            adj = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
            _, lab = connected_components(adj, directed=False)
            linked = deg > 0
            _, comp_linked = np.unique(lab[linked], return_inverse=True)
            comp[linked] = comp_linked
        particles = data.particles_
        particles.create_property("Isolated A", data=isolated_a.astype(np.int32))
        particles.create_property("Glass Component", data=comp.astype(np.int32))
        if self.highlight_isolated:
            colors = particle_colors(data)
            colors[isolated_a] = self.isolated_color
            particles.create_property("Color", data=colors)

        bb = is_b[pairs[:, 0]] & is_b[pairs[:, 1]] if len(pairs) else np.zeros(0, dtype=bool)
        if self.show_bonds:
            show = pairs[bb] if self.only_bb_bonds else pairs
            show_bb = bb[bb] if self.only_bb_bonds else bb
            if particles.bonds is not None:
                particles.bonds = None
            bonds = particles.create_bonds(count=len(show), vis_params={"width": float(self.bond_width)})
            bonds.create_property("Topology", data=show.astype(np.int64).reshape(-1, 2))
            bonds.create_property("Periodic Image", data=minimum_image_shifts(
                atoms.get_positions(), atoms.cell.array, atoms.pbc, show[:, 0], show[:, 1]))
            bonds.create_property("B-B", data=show_bb.astype(np.int32))
            bcol = np.where(show_bb[:, None], np.asarray(self.bb_color, dtype=float)[None, :],
                            np.asarray(self.bond_color, dtype=float)[None, :])
            bonds.create_property("Color", data=bcol.reshape(-1, 3))

        attrs = data.attributes
        d = m.as_dict()
        attrs["GlassMetrics.components"] = int(m.components)
        attrs["GlassMetrics.bb_edges"] = int(m.bb_edges)
        attrs["GlassMetrics.isolated_a"] = int(m.isolated_a)
        attrs["GlassMetrics.isolated_b"] = int(m.isolated_b)
        attrs["GlassMetrics.edges"] = int(m.n_edges)
        attrs["GlassMetrics.species_b"] = b_sym
        for name in ("components", "bb_edges", "isolated_a"):
            attrs[f"GlassMetrics.{name}_per_particle"] = float(d[f"{name}_per_particle"])
        yield (f"Glass metrics (B = {b_sym}, k = {self.k}): {m.components} disjoint graphs, "
               f"{m.bb_edges} B-B edges, {m.isolated_a} isolated A of {n} particles")
