"""SOAP power spectra (dscribe) and neighbour-averaging matrices of a structure.

:class:`Featurizer` turns ``ase.Atoms`` into the per-atom rows of the descriptor model
(see :mod:`mgbarrier.models.descriptor` for the layout) and, through
:func:`mgbarrier.graphs.inputs.soap_features`, into the SOAP node inputs of a SymGNN.
SOAP rows of large structures are computed block by block on clusters with their periodic
images (same values, bounded memory).  At prediction, models take affine maps of the rows
(:class:`SoapProjection`): :func:`with_soap_inputs` computes them for the whole structure in
one pass of blocks, shared by every model with the same SOAP settings (an ensemble pays for
SOAP once), and the models then work on a few numbers per atom.

dscribe is an optional dependency: ``pip install 'mgbarrier[descriptor]'``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from ase import Atoms

from ..errors import require
from ..progress import step
from .domains import INPUT_PREFIX, domains
from .graph import species_indices
from .neighbours import neighbour_pairs, neighbour_ready

#: structures with more atoms than this get their SOAP rows block by block (see
#: :meth:`Featurizer.soap_blocks`): dscribe's memory grows with centres × atoms (11 GB for
#: 24,000 atoms in one call), a block's with its own few thousand atoms
CHUNK = 3000


@lru_cache(maxsize=8)
def soap_featurizer(species: tuple, soap_items: tuple) -> "Featurizer":
    """The (cached) featuriser of SOAP settings ``dict(soap_items)`` for ``species`` (no averaging)."""
    return Featurizer({"species": list(species), "soap": dict(soap_items), "smoothing_lengths": [],
                       "average_cutoff": 0.0})


@dataclass(frozen=True, eq=False)
class SoapProjection:
    """Per-atom model inputs that are an affine map of SOAP rows: ``rows (N, n_soap) @ matrix
    (n_soap, k) + offset (k,)``, stored as ``atoms.arrays[name]`` (N, k) of ``dtype``.

    A model declares what it needs (the descriptor model its coefficient blocks, a SOAP-SymGNN
    its standardised input layer); :func:`with_soap_inputs` computes every projection with the
    same SOAP settings in one pass of SOAP blocks, whose rows are never all held at once."""

    species: Tuple[str, ...]
    soap: Tuple  # sorted (name, value) items of the SOAP settings
    matrix: np.ndarray  # (n_soap, k) float64
    offset: np.ndarray  # (k,) float64
    dtype: str = "float64"

    @cached_property
    def name(self) -> str:
        """The ``atoms.arrays`` name: the input prefix and a digest of settings and map (hashed once)."""
        h = hashlib.blake2b(repr((self.species, self.soap, self.dtype)).encode(), digest_size=12)
        for a in (self.matrix, self.offset):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        return INPUT_PREFIX + "soap_" + h.hexdigest()


def _groups(projections: Sequence[SoapProjection]) -> Dict[Tuple, List[SoapProjection]]:
    """Projections by SOAP settings (one pass of SOAP blocks each)."""
    groups: Dict[Tuple, List[SoapProjection]] = {}
    for p in projections:
        groups.setdefault((tuple(p.species), tuple(p.soap)), []).append(p)
    return groups


def soap_passes(projections: Sequence[SoapProjection]) -> int:
    """How many passes of SOAP blocks the projections take (one per distinct species and SOAP
    settings): the atoms of a structure are visited this many times."""
    return len(_groups(projections))


def _project(group: Sequence[SoapProjection], rows: np.ndarray) -> List[np.ndarray]:
    """Each projection of SOAP ``rows`` (n, n_soap): (n, k) arrays of its dtype."""
    block = rows @ np.concatenate([p.matrix for p in group], axis=1)  # (n, sum of k) float64
    ends = np.cumsum([p.matrix.shape[1] for p in group])
    return [(block[:, end - p.matrix.shape[1]:end] + p.offset).astype(p.dtype) for p, end in zip(group, ends)]


def soap_input_blocks(atoms: Atoms, projections: Sequence[SoapProjection]):
    """Yield ``(group, own, cluster)``: the spatial SOAP blocks (:meth:`Featurizer.block_clusters`)
    for each group of projections with equal settings: own atoms' indices into ``atoms`` and the
    open cluster (own atoms first) whose SOAP rows at the own atoms equal the whole structure's.
    For computing the blocks elsewhere (:func:`block_soap_inputs` on Dask workers)."""
    for (species, soap), group in _groups(projections).items():
        fz = soap_featurizer(species, soap)
        ready, _ = fz.prepare(atoms)
        for own, cluster in fz.block_clusters(ready):
            yield tuple(group), own, cluster


def block_soap_inputs(group: Sequence[SoapProjection], cluster: Atoms, n_own: int) -> Dict[str, np.ndarray]:
    """The projections (name -> (n_own, k)) of the first ``n_own`` atoms of an open SOAP-block
    cluster (:func:`soap_input_blocks`; the group shares its SOAP settings)."""
    fz = soap_featurizer(tuple(group[0].species), tuple(group[0].soap))
    values = _project(group, fz.cluster_rows(cluster, n_own))
    return {p.name: v for p, v in zip(group, values)}


def with_soap_inputs(atoms: Atoms, projections: Sequence[SoapProjection]) -> Atoms:
    """``atoms`` with every projection's array (a shallow copy; ``atoms`` itself unchanged, and
    returned as it is when it already carries them all).  Projections with equal settings
    share one pass of SOAP blocks.  Memory beyond the outputs: one block's rows."""
    missing = [p for p in projections if p.name not in atoms.arrays]
    if not missing:
        return atoms
    out = atoms.copy()  # (Atoms.copy leaves the calculator behind)
    for (species, soap), group in _groups(missing).items():
        fz = soap_featurizer(species, soap)
        ready, _ = fz.prepare(atoms)
        values = [np.empty((len(ready), p.matrix.shape[1]), dtype=p.dtype) for p in group]
        for idx, rows in fz.soap_blocks(ready):
            for v, block in zip(values, _project(group, rows)):
                v[idx] = block
        for p, v in zip(group, values):
            out.arrays[p.name] = v
    return out


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

        Above CHUNK atoms each block is computed on a non-periodic cluster of the block's atoms
        and every periodic image of an atom within dscribe's reach (r_cut plus its Gaussian
        padding) of them (:func:`mgbarrier.graphs.domains.domains`), which gives the same rows
        as the whole structure; memory: one block's cluster, whatever the size."""
        n = len(ready)
        if n <= CHUNK:
            yield np.arange(n), self.soap(ready)
            return
        done = 0
        for own, cluster in self.block_clusters(ready):
            rows = self.cluster_rows(cluster, len(own))
            done += len(own)
            step("SOAP", done, n)
            yield own, rows

    def block_clusters(self, ready: Atoms):
        """Yield ``(own, cluster)``: the spatial SOAP blocks of ``ready`` (about CHUNK atoms each,
        at least two per axis above CHUNK): the block's atoms (indices into ``ready``) and the
        non-periodic cluster of them (first) and every periodic image within dscribe's reach."""
        n = len(ready)
        m = max(2 if n > CHUNK else 1, int(round((n / CHUNK) ** (1.0 / 3.0))))
        yield from domains(ready, self.soap_reach + 0.5, (m, m, m), open_clusters=True)

    def cluster_rows(self, cluster: Atoms, n_own: int) -> np.ndarray:
        """SOAP rows (n_own, n_soap) float64 of the first ``n_own`` atoms of a block cluster
        (:meth:`block_clusters`): the rows of the whole structure."""
        rows = self._soap[False].create(cluster, centers=cluster.positions[:n_own], n_jobs=1)
        return np.asarray(rows, dtype=np.float64).reshape(-1, self.n_soap)

    def _kernel(self, atoms: Atoms):
        """Yield, per smoothing length R, the averaging kernel: pairs ``i, j`` (E,) within the
        averaging radius, weights exp(-r_ij / R) (E,) and each atom's normaliser (N,) (the atom
        itself included with r = 0, weight 1; periodic images each count).  One length's
        weights at a time."""
        n = len(atoms)
        i, j, d = neighbour_pairs(atoms, self.avg_cutoff, with_distance=True)
        for R in self.lengths:
            w = np.exp(-d / R)
            yield i, j, w, np.bincount(i, weights=w, minlength=n) + 1.0

    def averaging(self, atoms: Atoms):
        """Row-normalised scipy.sparse CSR matrices W_R (N, N), one per smoothing length (for
        fitting: products with all SOAP columns)."""
        import scipy.sparse as sp

        n = len(atoms)
        mats = []
        for i, j, w, norm in self._kernel(atoms):
            rows = np.concatenate([i, np.arange(n)])
            cols = np.concatenate([j, np.arange(n)])
            W = sp.csr_matrix((np.concatenate([w, np.ones(n)]), (rows, cols)), shape=(n, n))  # images summed
            mats.append(sp.diags(1.0 / norm) @ W)
        return mats

    def averages(self, atoms: Atoms, values: np.ndarray) -> np.ndarray:
        """(len(lengths), N) float64: ``W_R @ values[:, k]`` for length k (the matrices of
        :meth:`averaging`, one column of ``values`` (N, len(lengths)) each), without building
        the matrices (prediction: fewer bytes per pair)."""
        n = len(atoms)
        out = np.empty((len(self.lengths), n))
        for k, (i, j, w, norm) in enumerate(self._kernel(atoms)):
            out[k] = (np.bincount(i, weights=w * values[j, k], minlength=n) + values[:, k]) / norm
        return out

    def features(self, atoms: Atoms) -> np.ndarray:
        """Full feature rows (N, n_features) float32 — for fitting (memory ~ N * n_features * 4 bytes)."""
        ready, flag = self.prepare(atoms)
        X = self.soap(ready)
        blocks = [X] + [W @ X for W in self.averaging(ready)] + [flag[:, None]]
        return np.concatenate([b.astype(np.float32) for b in blocks], axis=1)
