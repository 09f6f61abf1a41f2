"""SOAP power spectra (dscribe) and neighbour-averaging matrices of a structure.

:class:`Featurizer` turns ``ase.Atoms`` into the per-atom rows of the descriptor model
(see :mod:`mgbarrier.models.descriptor` for the layout) and, through
:func:`mgbarrier.graphs.inputs.soap_features`, into the SOAP node inputs of a SymGNN.
SOAP rows of large structures are computed block by block on clusters with their periodic
images (same values, bounded memory).

dscribe is an optional dependency: ``pip install 'mgbarrier[descriptor]'``.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
from ase import Atoms

from ..errors import require
from .graph import species_indices
from .neighbours import neighbour_pairs, neighbour_ready

#: structures with more atoms than this get their SOAP rows block by block (see
#: :meth:`Featurizer.soap_blocks`): dscribe's memory grows with centres × atoms (11 GB for
#: 24,000 atoms in one call), a block's with its own few thousand atoms
CHUNK = 3000

#: inside :func:`shared_soap_rows`: the SOAP rows of the last structure (4.4 kB per atom for the
#: shipped settings), keyed by settings and structure, when they take at most this many bytes
#: (the caller may set another bound; ``None`` outside: nothing is kept between calls)
SHARED_MAX_BYTES = 220e6
#: a context variable, so that threads (and asyncio tasks) never see each other's memo
_SHARED_SOAP: ContextVar[Optional[Dict[str, Any]]] = ContextVar("mgbarrier_shared_soap", default=None)


@contextmanager
def shared_soap_rows(max_bytes: Optional[float] = None):
    """Within this block, models with the same SOAP settings compute the SOAP rows of a
    structure once if they fit in ``max_bytes`` (default :data:`SHARED_MAX_BYTES`): an ensemble
    of a SOAP-SymGNN and the descriptor model pays for SOAP once per prediction.  Nothing is
    kept after the block.  The memo belongs to the current thread's context: concurrent
    predictions do not share it."""
    if _SHARED_SOAP.get() is not None:
        yield
        return
    limit = SHARED_MAX_BYTES if max_bytes is None else float(max_bytes)
    token = _SHARED_SOAP.set({"key": None, "rows": None, "max_bytes": limit})
    try:
        yield
    finally:
        _SHARED_SOAP.reset(token)


def _soap_key(settings: Dict, species: Sequence[str], ready: Atoms) -> str:
    h = hashlib.blake2b(repr((sorted(settings.items()), list(species))).encode(), digest_size=16)
    for a in (ready.get_positions(), ready.numbers, np.asarray(ready.cell), ready.pbc):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def dscribe_version() -> str:
    try:
        import importlib.metadata as md

        return md.version("dscribe")
    except Exception:  # pragma: no cover - metadata missing
        return "unknown"


class Featurizer:
    """SOAP rows and the neighbour-averaging matrices for one configuration (see module doc)."""

    def __init__(self, config: Dict):
        SOAP = require("dscribe.descriptors", "descriptor", "SOAP features").SOAP
        self.config = config
        self.species = list(config["species"])
        s = config["soap"]
        kw = dict(species=self.species, r_cut=float(s["r_cut"]), n_max=int(s["n_max"]), l_max=int(s["l_max"]),
                  sigma=float(s["sigma"]), rbf=s.get("rbf", "gto"), dtype="float64")
        self._soap = {True: SOAP(periodic=True, **kw), False: SOAP(periodic=False, **kw)}
        self.n_soap = int(self._soap[True].get_number_of_features())
        self.lengths = [float(x) for x in config["smoothing_lengths"]]
        self.avg_cutoff = float(config["average_cutoff"])

    @property
    def n_features(self) -> int:
        return (1 + len(self.lengths)) * self.n_soap + 1

    @property
    def receptive_radius(self) -> float:
        return float(self.config["soap"]["r_cut"]) + self.avg_cutoff

    @property
    def soap_reach(self) -> float:
        """Å: a SOAP row depends on atoms this far away (r_cut + dscribe's Gaussian padding)."""
        return float(self.config["soap"]["r_cut"]) + float(self._soap[True].get_cutoff_padding())

    def prepare(self, atoms: Atoms) -> Tuple[Atoms, np.ndarray]:
        """Check the elements; return a copy dscribe can use and the (N,) Zr flag."""
        idx = species_indices(atoms, self.species, atoms.info.get("source", ""))
        flag = (idx == self.species.index("Zr")).astype(np.float64) if "Zr" in self.species else np.zeros(len(idx))
        # wrapped into the cell; non-periodic axes padded orthogonally (as for the graph)
        ready = neighbour_ready(atoms, self.receptive_radius)
        return ready, flag

    def soap(self, ready: Atoms, centers: Optional[Sequence[int]] = None) -> np.ndarray:
        """SOAP rows (len(centers) or N, n_soap) float64."""
        periodic = bool(np.any(ready.pbc))
        # centres as positions: dscribe copies the whole position array per integer index
        c = None if centers is None else ready.positions[np.asarray(centers, dtype=int)]
        X = self._soap[periodic].create(ready, centers=c, n_jobs=1)
        return np.asarray(X, dtype=np.float64).reshape(-1, self.n_soap)

    def soap_blocks(self, ready: Atoms):
        """Yield ``(indices, rows)``: SOAP rows (len(indices), n_soap) float64 for all atoms,
        a spatial block of about CHUNK atoms at a time.

        Each block is computed on a non-periodic cluster of the block's atoms and every
        periodic image of an atom within dscribe's reach (r_cut plus its Gaussian padding)
        of them, which gives the same rows as the whole structure at bounded memory.
        Inside :func:`shared_soap_rows`, structures whose rows fit its bound are computed once
        and yielded whole (read-only) to every featuriser with these settings.
        """
        n = len(ready)
        memo = _SHARED_SOAP.get()
        if memo is None or n * self.n_soap * 8 > memo["max_bytes"]:
            yield from self._soap_blocks(ready)
            return
        key = _soap_key(self.config["soap"], self.species, ready)
        if memo["key"] != key:
            memo.update(key=None, rows=None)  # release the previous structure's rows first
            rows = np.empty((n, self.n_soap))
            for idx, r in self._soap_blocks(ready):
                rows[idx] = r
            rows.setflags(write=False)  # shared between callers
            memo.update(key=key, rows=rows)
        yield np.arange(n), memo["rows"]

    def _soap_blocks(self, ready: Atoms):
        n = len(ready)
        if n <= CHUNK:
            yield np.arange(n), self.soap(ready)
            return
        s = self._soap[True]
        reach = float(self.config["soap"]["r_cut"]) + float(s.get_cutoff_padding()) + 0.5
        i, j, D = neighbour_pairs(ready, reach)
        pos = ready.get_positions()
        numbers = ready.numbers
        # blocks: cells of a grid in fractional coordinates, ~CHUNK atoms each
        m = max(1, int(round((n / CHUNK) ** (1.0 / 3.0))))
        frac = ready.cell.scaled_positions(pos) if ready.cell.rank == 3 else np.zeros((n, 3))
        cell_of = np.clip((frac % 1.0 * m).astype(int), 0, m - 1)
        block_of = (cell_of[:, 0] * m + cell_of[:, 1]) * m + cell_of[:, 2]
        atoms_by_block = np.argsort(block_of, kind="stable")
        starts = np.searchsorted(block_of[atoms_by_block], np.arange(m ** 3 + 1))
        pairs_by_block = np.argsort(block_of[i], kind="stable")
        pstarts = np.searchsorted(block_of[i][pairs_by_block], np.arange(m ** 3 + 1))
        # a neighbour image is atom j shifted by a lattice vector: (j, integer cell shift) names it,
        # encoded in one int64 key (no float comparisons, no 2-D unique)
        periodic = ready.cell.rank == 3 and bool(np.any(ready.pbc))
        inv_cell = np.linalg.inv(ready.cell.array) if periodic else None
        inside = np.zeros(n, dtype=bool)
        for b in range(m ** 3):
            idx = atoms_by_block[starts[b]:starts[b + 1]]
            if len(idx) == 0:
                continue
            sel = pairs_by_block[pstarts[b]:pstarts[b + 1]]
            js = j[sel].astype(np.int64)
            if periodic:
                shift = np.rint((pos[i[sel]] + D[sel] - pos[js]) @ inv_cell).astype(np.int64)
                base = 2 * int(np.abs(shift).max(initial=0)) + 1
                shift += base // 2
                key = ((js * base + shift[:, 0]) * base + shift[:, 1]) * base + shift[:, 2]
                unshifted = (shift == base // 2).all(axis=1)
            else:
                key, unshifted = js, np.ones(len(js), dtype=bool)
            inside[idx] = True
            own = inside[js] & unshifted  # the block's atoms themselves
            inside[idx] = False
            _, first = np.unique(key[~own], return_index=True)
            halo = sel[np.sort(np.flatnonzero(~own)[first])]  # pair rows of the halo images
            img = pos[i[halo]] + D[halo]  # halo images, Å
            cluster = Atoms(numbers=np.concatenate([numbers[idx], numbers[j[halo]]]),
                            positions=np.concatenate([pos[idx], img]), pbc=False)
            rows = self._soap[False].create(cluster, centers=cluster.positions[:len(idx)], n_jobs=1)
            yield idx, np.asarray(rows, dtype=np.float64).reshape(-1, self.n_soap)

    def averaging(self, atoms: Atoms):
        """Row-normalised scipy.sparse CSR matrices W_R (N, N), one per smoothing length."""
        import scipy.sparse as sp

        n = len(atoms)
        i, j, d = neighbour_pairs(atoms, self.avg_cutoff, with_distance=True)
        rows = np.concatenate([i, np.arange(n)])
        cols = np.concatenate([j, np.arange(n)])
        dist = np.concatenate([d, np.zeros(n)])
        mats = []
        for R in self.lengths:
            w = np.exp(-dist / R)
            W = sp.csr_matrix((w, (rows, cols)), shape=(n, n))  # duplicates (periodic images) are summed
            norm = np.asarray(W.sum(axis=1)).ravel()
            mats.append(sp.diags(1.0 / norm) @ W)
        return mats

    def features(self, atoms: Atoms) -> np.ndarray:
        """Full feature rows (N, n_features) float32 — for fitting (memory ~ N * n_features * 4 bytes)."""
        ready, flag = self.prepare(atoms)
        X = self.soap(ready)
        blocks = [X] + [W @ X for W in self.averaging(ready)] + [flag[:, None]]
        return np.concatenate([b.astype(np.float32) for b in blocks], axis=1)
