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

dscribe is an optional dependency: ``pip install 'mgbarrier[descriptor]'``.
"""
from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from ase import Atoms

from .errors import MgBarrierError
from .graph import _neighbour_ready, neighbour_pairs, species_indices
from .metrics import pearson

#: the settings of the shipped model (Å)
DEFAULT_CONFIG: Dict = {
    "species": ["Cu", "Zr"],
    "soap": {"r_cut": 6.0, "n_max": 6, "l_max": 6, "sigma": 0.5, "rbf": "gto"},
    "smoothing_lengths": [1.0, 2.0],
    "average_cutoff": 7.5,
}
#: default ridge grid: 10^-4 ... 10^6 in half decades (features standardised over ~5e4 rows)
DEFAULT_ALPHAS = tuple(float(10.0 ** e) for e in np.arange(-4.0, 6.01, 0.5))
#: structures with more atoms than this get their SOAP rows block by block (see
#: :meth:`Featurizer.soap_blocks`): dscribe's memory grows with centres × atoms (11 GB for
#: 24,000 atoms in one call), a block's with its own few thousand atoms
CHUNK = 3000

#: inside :func:`shared_soap_rows`: the SOAP rows of the last structure of at most
#: SHARED_MAX_ATOMS atoms (4.4 kB per atom), keyed by settings and structure (``None``
#: outside: nothing is kept between calls)
SHARED_MAX_ATOMS = 50_000
_SHARED_SOAP: Optional[Dict[str, Any]] = None


@contextmanager
def shared_soap_rows():
    """Within this block, models with the same SOAP settings compute the SOAP rows of a
    structure (at most SHARED_MAX_ATOMS atoms) once: an ensemble of a SOAP-SymGNN and the descriptor
    model pays for SOAP once per prediction.  Nothing is kept after the block."""
    global _SHARED_SOAP
    outer = _SHARED_SOAP
    if outer is None:
        _SHARED_SOAP = {"key": None, "rows": None}
    try:
        yield
    finally:
        if outer is None:
            _SHARED_SOAP = None


def _soap_key(settings: Dict, species: Sequence[str], ready: Atoms) -> str:
    import hashlib

    h = hashlib.blake2b(repr((sorted(settings.items()), list(species))).encode(), digest_size=16)
    for a in (ready.get_positions(), ready.numbers, np.asarray(ready.cell), ready.pbc):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _require_dscribe():
    try:
        from dscribe.descriptors import SOAP
    except ImportError:
        raise MgBarrierError("the descriptor model needs dscribe: pip install 'mgbarrier[descriptor]'") from None
    return SOAP


def _dscribe_version() -> str:
    try:
        import importlib.metadata as md

        return md.version("dscribe")
    except Exception:  # pragma: no cover - metadata missing
        return "unknown"


class Featurizer:
    """SOAP rows and the neighbour-averaging matrices for one configuration (see module doc)."""

    def __init__(self, config: Dict):
        SOAP = _require_dscribe()
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

    def prepare(self, atoms: Atoms) -> Tuple[Atoms, np.ndarray]:
        """Check the elements; return a copy dscribe can use and the (N,) Zr flag."""
        idx = species_indices(atoms, self.species, atoms.info.get("source", ""))
        flag = (idx == self.species.index("Zr")).astype(np.float64) if "Zr" in self.species else np.zeros(len(idx))
        # wrapped into the cell; non-periodic axes padded orthogonally (as for the graph)
        ready = _neighbour_ready(atoms, self.receptive_radius)
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
        Inside :func:`shared_soap_rows`, structures of at most SHARED_MAX_ATOMS atoms are
        computed once and yielded whole (read-only) to every featuriser with these settings.
        """
        n = len(ready)
        memo = _SHARED_SOAP
        if memo is None or n > SHARED_MAX_ATOMS:
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
        for b in range(m ** 3):
            idx = atoms_by_block[starts[b]:starts[b + 1]]
            if len(idx) == 0:
                continue
            sel = pairs_by_block[pstarts[b]:pstarts[b + 1]]
            img = pos[i[sel]] + D[sel]  # neighbour images, Å
            inside = np.zeros(n, dtype=bool)
            inside[idx] = True
            # an image is the block atom itself unless it is a periodic copy: compare positions
            own = inside[j[sel]] & (np.abs(img - pos[j[sel]]).max(axis=1) < 1e-6)
            key = np.round(img[~own], 4)
            _, first = np.unique(key, axis=0, return_index=True)
            halo = np.sort(np.flatnonzero(~own)[first])
            cluster = Atoms(numbers=np.concatenate([numbers[idx], numbers[j[sel][halo]]]),
                            positions=np.concatenate([pos[idx], img[halo]]), pbc=False)
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


# --------------------------------------------------------------------------- fitting


def _moments(feats: List[np.ndarray], y: np.ndarray, chunk: int = 4096):
    """Column mean, std and the standardised Gram matrix / right-hand side, accumulated in float64."""
    n = sum(len(f) for f in feats)
    F = feats[0].shape[1]
    s1 = np.zeros(F)
    for f in feats:
        s1 += f.sum(axis=0, dtype=np.float64)
    mean = s1 / n
    XtX = np.zeros((F, F))
    Xty = np.zeros(F)
    off = 0
    for f in feats:
        for a in range(0, len(f), chunk):
            c = f[a:a + chunk].astype(np.float64) - mean
            XtX += c.T @ c
            Xty += c.T @ y[off + a:off + a + len(c)]
        off += len(f)
    var = np.diag(XtX) / n
    std = np.sqrt(var)
    std[std < 1e-12 * max(1.0, float(std.max()))] = 1.0  # constant columns: leave unscaled
    G = XtX / np.outer(std, std)
    b = Xty / std
    return mean, std, G, b


def _predict_rows(f: np.ndarray, mean, std, coef, intercept: float, chunk: int = 4096) -> np.ndarray:
    out = np.empty(len(f))
    for a in range(0, len(f), chunk):
        out[a:a + chunk] = ((f[a:a + chunk].astype(np.float64) - mean) / std) @ coef + intercept
    return out


def fit_descriptor_model(train_atoms: Sequence[Atoms], val_atoms: Sequence[Atoms],
                         alphas: Sequence[float] = DEFAULT_ALPHAS, config: Optional[Dict] = None,
                         progress=None) -> Tuple[dict, dict]:
    """Fit the ridge model on ``train_atoms`` and choose alpha by Pearson on ``val_atoms``.

    Every structure carries labels ``atoms.arrays['barrier']`` (eV; NaN = unlabelled, skipped).
    ``alphas`` are ridge strengths for standardised features (sum of squares over training rows).
    The validation structures are used only to choose alpha, never fitted.
    ``progress``: optional callable(str) for status lines.

    Returns ``(payload, report)``: ``payload`` is a checkpoint dict for
    :func:`mgbarrier.checkpoint.save_checkpoint` (kind "descriptor"; add ``metadata`` as wanted),
    ``report`` holds ``alphas``, ``val_pearson`` (per alpha; pooled over validation structures),
    ``alpha``, ``train_pearson``, ``n_train``, ``n_features`` and timings (s).
    """
    say = progress or (lambda msg: None)
    cfg = dict(DEFAULT_CONFIG if config is None else config)
    fz = Featurizer(cfg)
    t0 = time.perf_counter()

    def labelled(atoms_list, what):
        feats, ys = [], []
        for k, atoms in enumerate(atoms_list):
            if "barrier" not in atoms.arrays:
                raise MgBarrierError(f"{atoms.info.get('source', what)}: structure has no 'barrier' labels")
            y = np.asarray(atoms.arrays["barrier"], dtype=np.float64)
            ok = np.isfinite(y)
            f = fz.features(atoms)[ok]
            feats.append(f)
            ys.append(y[ok])
            say(f"features {what}[{k}]: {int(ok.sum())} labelled atoms")
        return feats, ys

    tr_f, tr_y = labelled(train_atoms, "train")
    va_f, va_y = labelled(val_atoms, "val")
    t_feat = time.perf_counter() - t0
    y = np.concatenate(tr_y)
    if len(y) < 2:
        raise MgBarrierError("descriptor fit: fewer than two labelled training atoms")
    label_mean, label_std = float(y.mean()), float(y.std()) or 1.0
    z = (y - label_mean) / label_std
    mean, std, G, b = _moments(tr_f, z)
    lam, V = np.linalg.eigh(G)
    lam = np.clip(lam, 0.0, None)
    Vb = V.T @ b
    val_y = np.concatenate(va_y) if va_y else np.zeros(0)
    scores = []
    coefs = []
    for a in alphas:
        coef = V @ (Vb / (lam + float(a)))
        coefs.append(coef)
        if len(val_y):
            pv = np.concatenate([_predict_rows(f, mean, std, coef, 0.0) for f in va_f])
            scores.append(pearson(pv, val_y))
        else:
            scores.append(float("nan"))
        say(f"alpha {a:g}: val pearson {scores[-1]:.4f}")
    finite = [k for k, s in enumerate(scores) if np.isfinite(s)]
    best = max(finite, key=lambda k: scores[k]) if finite else int(np.argmin(np.abs(np.log10(alphas) - 2)))
    coef = coefs[best]
    alpha = float(alphas[best])
    train_pred = np.concatenate([_predict_rows(f, mean, std, coef, 0.0) for f in tr_f])
    t_fit = time.perf_counter() - t0
    config_out = dict(cfg)
    config_out.update({"alpha": alpha, "n_soap": fz.n_soap, "n_features": fz.n_features,
                       "feature_layout": "soap | W(R=1) soap | W(R=2) soap | Zr flag",
                       "dscribe_version": _dscribe_version()})
    payload = {
        "kind": "descriptor",
        "config": config_out,
        "label_mean": label_mean,
        "label_std": label_std,
        "state_dict": {"mean": torch.from_numpy(mean), "std": torch.from_numpy(std),
                       "coef": torch.from_numpy(np.ascontiguousarray(coef)),
                       "intercept": torch.tensor(0.0, dtype=torch.float64)},
        "metadata": {},
    }
    report = {"alphas": [float(a) for a in alphas], "val_pearson": [float(s) for s in scores], "alpha": alpha,
              "train_pearson": pearson(train_pred, z), "n_train": int(len(y)), "n_features": fz.n_features,
              "feature_time_s": t_feat, "fit_time_s": t_fit}
    return payload, report


# --------------------------------------------------------------------------- prediction


class DescriptorPredictor:
    """A loaded descriptor (SOAP + ridge) checkpoint; same interface as ``SymGNNPredictor``.

    Attributes: ``species`` (symbols), ``cutoff`` (Å, the receptive radius r_cut + averaging
    radius = 13.5 Å for the shipped model), ``metadata`` (dict), ``config`` (dict), ``path``.
    Runs on the CPU whatever ``device`` says; ``n_transforms`` does not apply and is ignored.
    """

    kind = "descriptor"

    def __init__(self, ckpt: dict, path: Path, device: str = "cpu", n_transforms: Optional[int] = None):
        from .predictor import _check_device

        _check_device(device)
        self.path = path
        self.config = dict(ckpt["config"])
        self.metadata = dict(ckpt.get("metadata", {}))
        self.label_mean = float(ckpt.get("label_mean", 0.0))
        self.label_std = float(ckpt.get("label_std", 1.0))
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
                                 f"({_dscribe_version()}) gives {F} for the stored SOAP settings")
        # fold standardisation into per-block projections (see module doc)
        ns, nb = self._fz.n_soap, 1 + len(self._fz.lengths)
        w = self._coef / self._std
        self._proj = np.stack([w[k * ns:(k + 1) * ns] for k in range(nb)], axis=1)  # (n_soap, nb)
        self._w_flag = float(w[-1])
        self._const = self._intercept - float(self._mean @ w)

    @property
    def species(self) -> List[str]:
        return list(self.config["species"])

    @property
    def cutoff(self) -> float:
        """Receptive radius (Å): SOAP r_cut + neighbour-averaging radius."""
        return self._fz.receptive_radius

    def predict(self, atoms: Atoms) -> np.ndarray:
        """Per-atom energy barriers in eV, float64 array of shape (N,). Deterministic."""
        ready, flag = self._fz.prepare(atoms)
        n = len(ready)
        P = np.empty((n, self._proj.shape[1]))
        for idx, rows in self._fz.soap_blocks(ready):
            P[idx] = rows @ self._proj
        z = P[:, 0] + self._w_flag * flag + self._const
        for k, W in enumerate(self._fz.averaging(ready)):
            z += W @ P[:, k + 1]
        _warn_if_far(z, atoms.info.get("source", "") or "structure", self.label_mean, self.label_std)
        return z * self.label_std + self.label_mean

    def describe(self) -> str:
        from .model_card import format_card

        return format_card(self) + "\n" + f"settings   : SOAP {self.config['soap']}, averaging R = " \
            f"{self.config['smoothing_lengths']} Å within {self.config['average_cutoff']} Å, " \
            f"ridge alpha = {self.config.get('alpha')}"


#: predictions further than this many training-label standard deviations from the training
#: mean (about ±1.8 eV around 1.6 eV for Cu64Zr36) mean the structure is unlike the training glasses
FAR_Z = 6.0


def _warn_if_far(z: np.ndarray, source: str, mean: float, std: float) -> None:
    """Warn (:class:`MgBarrierWarning`) when standardised predictions ``z`` (N,) leave
    ±FAR_Z: the ridge model is linear in SOAP and extrapolates without bound."""
    far = np.abs(z) > FAR_Z
    if far.any():
        from .errors import MgBarrierWarning

        lo, hi = mean - FAR_Z * std, mean + FAR_Z * std
        warnings.warn(MgBarrierWarning(
            f"{source}: {int(far.sum())} of {z.size} atoms have predicted barriers outside "
            f"{lo:.2f}..{hi:.2f} eV (training mean ± {FAR_Z:g} std): the structure is unlike the "
            f"training glasses and the descriptor model extrapolates; do not trust these values"),
            stacklevel=3)


def _register() -> None:
    from .predictor import register_kind

    register_kind("descriptor", DescriptorPredictor)


_register()
