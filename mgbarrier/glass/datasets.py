"""Configurations and the seed's six liquid-vs-glass datasets.

A :class:`Config` is one configuration as arrays (what the classifier and the metrics eat);
:func:`config_to_atoms` / :func:`config_from_atoms` convert to and from ``ase.Atoms``
(2D: ``pbc=(True, True, False)``, z = 0, a 1 σ thick non-periodic z axis; species A -> Ni,
B -> P, after the Ni80P20 melt the Kob-Andersen model was made for).

Datasets (the seed's §II B; glass label 1, liquid label 0):

====  ===========================================  =====================================
 id    glass configurations                         liquid configurations
====  ===========================================  =====================================
 1-5   slow cooling, T = 0.05                       slow cooling, T = 1.99, 1.76, 0.96, 0.55, 0.44
 6     fast cooling, T = 0.05                       slow cooling at the recorded T whose mean
                                                    inherent-structure energy is nearest the
                                                    fast glasses' (the seed: 0.55)
====  ===========================================  =====================================

Splits are by simulation (a simulation's glass and liquid are never in different splits):
a stable hash of the seed puts 70 % in train, 15 % in validation, 15 % in test.

Data folder layout (written by :mod:`.build`)::

    DIR/settings.json            generation settings (checked on resume)
    DIR/sims/slow/seed_NNNNNN.npz  one cooling run each (:func:`.kob_andersen.save_run`)
    DIR/sims/fast/seed_NNNNNN.npz
    DIR/datasets.json            the manifest: per dataset and split, (file, record, label)
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import MgBarrierError
from .kob_andersen import CoolingRun, inherent_structure, load_run

#: element symbols used for the Kob-Andersen types in ase.Atoms / extxyz files
KA_SYMBOLS = {1: "Ni", 2: "P"}
#: the seed's liquid temperatures of datasets 1-5 (glass: 0.05)
LIQUID_T = {1: 1.99, 2: 1.76, 3: 0.96, 4: 0.55, 5: 0.44}
GLASS_T = 0.05
SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)


@dataclass
class Config:
    """One configuration.

    positions: (N, d) float32, d = 2 or 3 (σ_AA or Å); is_b: (N,) bool (B / minority species)
    box: (d,) orthorhombic periodic side lengths, or None (open); label: 1 glass, 0 liquid, -1 unknown
    """

    positions: np.ndarray
    is_b: np.ndarray
    box: Optional[np.ndarray]
    label: int = -1
    name: str = ""

    @property
    def n(self) -> int:
        return int(self.positions.shape[0])

    @property
    def dim(self) -> int:
        return int(self.positions.shape[1])


def config_to_atoms(xy: np.ndarray, types: np.ndarray, box_length: float):
    """2D Kob-Andersen configuration -> ``ase.Atoms`` (A = Ni, B = P; pbc x, y; z = 0)."""
    from ase import Atoms

    xy = np.asarray(xy, dtype=float)
    pos = np.zeros((len(xy), 3))
    pos[:, :2] = xy
    L = float(box_length)
    symbols = [KA_SYMBOLS[int(t)] for t in types]
    atoms = Atoms(symbols=symbols, positions=pos, cell=[[L, 0, 0], [0, L, 0], [0, 0, 1.0]],
                  pbc=(True, True, False))
    atoms.arrays["type"] = np.asarray(types, dtype=np.int64)
    return atoms


def run_to_atoms(run: CoolingRun, record: int, inherent: bool = False):
    """Record ``record`` of ``run`` as 2D ``ase.Atoms`` (see :func:`config_to_atoms`)."""
    xy = run.is_positions[record] if inherent else run.positions[record]
    atoms = config_to_atoms(xy, run.types, run.box_length)
    atoms.info.update(temperature=float(run.temperatures[record]), e_is=float(run.e_is[record]),
                      e_pot=float(run.e_pot[record]), seed=int(run.seed), step=int(run.steps[record]))
    return atoms


def choose_species_b(symbols: Sequence[str], species_b: Optional[str] = None, source: str = "") -> str:
    """The species playing the Kob-Andersen B role: ``species_b`` if given, else the minority
    species (ties: the alphabetically first).  Needs exactly two species unless ``species_b``."""
    where = f"{source}: " if source else ""
    uniq, counts = np.unique(np.asarray(symbols), return_counts=True)
    if species_b is not None:
        if species_b not in uniq:
            raise MgBarrierError(f"{where}species {species_b!r} (--species-b) is not in the structure "
                                 f"(it has {', '.join(uniq)})")
        return species_b
    if len(uniq) != 2:
        raise MgBarrierError(f"{where}{len(uniq)} species ({', '.join(uniq)}); say which is B with --species-b")
    return str(uniq[int(np.argmin(counts))])


def config_from_atoms(atoms, species_b: Optional[str] = None, source: str = "", label: int = -1) -> Config:
    """``ase.Atoms`` -> :class:`Config` (orthorhombic or open cells; 2D if z is flat and open)."""
    from .graph import atoms_geometry

    pos, box, per, ortho = atoms_geometry(atoms)
    if not ortho:
        raise MgBarrierError(f"{source}: the classifier needs an orthorhombic (or open) cell")
    if box is not None and not per.all():
        raise MgBarrierError(f"{source}: mixed periodicity is not supported by the classifier")
    b = choose_species_b(atoms.get_chemical_symbols(), species_b, source)
    is_b = np.asarray(atoms.get_chemical_symbols()) == b
    return Config(positions=pos.astype(np.float32), is_b=is_b, box=box, label=label, name=source)


# ----------------------------------------------------------------------------- manifest
def split_of(seed: int) -> str:
    """'train', 'val' or 'test' from a stable hash of the simulation seed."""
    h = int(hashlib.sha256(f"ka2d-{int(seed)}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    c = np.cumsum(SPLIT_FRACTIONS)
    return SPLITS[int(np.searchsorted(c, h, side="right").clip(0, 2))]


def _record_of(temps: np.ndarray, t: float) -> Optional[int]:
    hit = np.where(np.isclose(temps, t, atol=1e-6))[0]
    return int(hit[0]) if len(hit) else None


def list_runs(data_dir: Union[str, Path], rate: str) -> List[Path]:
    return sorted((Path(data_dir) / "sims" / rate).glob("seed_*.npz"))


def _run_header(path: Path) -> dict:
    """Temperatures, seed and inherent-structure energies of a run file (no positions loaded)."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            return {"temperatures": z["temperatures"], "seed": int(z["seed"]), "e_is": z["e_is"],
                    "n": int(z["types"].shape[0])}
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise MgBarrierError(f"{path}: not a complete cooling-run file ({type(exc).__name__})") from None


def energy_curve(headers: Sequence[dict]) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(T (K,), mean E_IS (K,), std (K,), count (K,))`` over runs, NaNs (unquenched) skipped."""
    by_t: Dict[float, list] = {}
    for h in headers:
        for t, e in zip(h["temperatures"], h["e_is"]):
            if np.isfinite(e):
                by_t.setdefault(round(float(t), 6), []).append(float(e))
    ts = np.array(sorted(by_t))
    mean = np.array([np.mean(by_t[t]) for t in ts])
    std = np.array([np.std(by_t[t]) for t in ts])
    cnt = np.array([len(by_t[t]) for t in ts])
    return ts, mean, std, cnt


def build_manifest(data_dir: Union[str, Path], dataset6_liquid_t: Optional[float] = None) -> dict:
    """Assemble datasets 1-6 from the run files under ``data_dir/sims`` (see the module doc).

    Returns the manifest dict (also what ``datasets.json`` holds)::

        {"datasets": {"1": {"glass": {...}, "liquid": {...},
                            "train": [[file, record, label], ...], "val": [...], "test": [...]}, ...},
         "dataset6": {"glass_e_is": ..., "liquid_t": ..., "liquid_e_is": ..., "curve": {...}}, ...}
    """
    data_dir = Path(data_dir)
    slow = [(p, _run_header(p)) for p in list_runs(data_dir, "slow")]
    fast = [(p, _run_header(p)) for p in list_runs(data_dir, "fast")]
    if not slow:
        raise MgBarrierError(f"{data_dir}: no slow-cooling runs under sims/slow; run glass-data first")
    rel = lambda p: str(p.relative_to(data_dir))  # noqa: E731

    def entries(runs, t, label):
        out = {s: [] for s in SPLITS}
        for p, h in runs:
            r = _record_of(h["temperatures"], t)
            if r is not None:
                out[split_of(h["seed"])].append([rel(p), r, label])
        return out

    manifest = {"datasets": {}, "counts": {}, "n_runs": {"slow": len(slow), "fast": len(fast)}}
    specs = {k: (("slow", GLASS_T), ("slow", t)) for k, t in LIQUID_T.items()}
    info6 = None
    if fast:
        t_f, e_f, _, _ = energy_curve([h for _, h in fast])
        glass_e = e_f[np.isclose(t_f, GLASS_T)]
        ts, es, sd, cnt = energy_curve([h for _, h in slow])
        if len(glass_e) and len(ts):
            if dataset6_liquid_t is None:
                cand = ts > GLASS_T + 1e-9
                k = int(np.argmin(np.where(cand, np.abs(es - glass_e[0]), np.inf)))
                liquid_t = float(ts[k])
            else:
                liquid_t = float(dataset6_liquid_t)
            k = np.where(np.isclose(ts, liquid_t))[0]
            info6 = {"glass_e_is": float(glass_e[0]), "liquid_t": liquid_t,
                     "liquid_e_is": float(es[k[0]]) if len(k) else None,
                     "liquid_e_is_std": float(sd[k[0]]) if len(k) else None,
                     "liquid_e_is_n": int(cnt[k[0]]) if len(k) else 0}
            specs[6] = (("fast", GLASS_T), ("slow", liquid_t))
    manifest["dataset6"] = info6
    for ds, ((g_rate, g_t), (l_rate, l_t)) in specs.items():
        g = entries(slow if g_rate == "slow" else fast, g_t, 1)
        liq = entries(slow if l_rate == "slow" else fast, l_t, 0)
        d = {"glass": {"rate": g_rate, "T": g_t}, "liquid": {"rate": l_rate, "T": l_t}}
        for s in SPLITS:
            d[s] = g[s] + liq[s]
        manifest["datasets"][str(ds)] = d
        manifest["counts"][str(ds)] = {s: [sum(1 for e in d[s] if e[2] == 1), sum(1 for e in d[s] if e[2] == 0)]
                                       for s in SPLITS}
    return manifest


def write_manifest(data_dir: Union[str, Path], manifest: dict) -> Path:
    from ..io.files import atomic_write

    path = Path(data_dir) / "datasets.json"
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=1)))
    return path


def read_manifest(data_dir: Union[str, Path]) -> dict:
    path = Path(data_dir) / "datasets.json"
    if not path.is_file():
        raise MgBarrierError(f"{path}: no dataset manifest; run 'mgbarrier glass-data' first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MgBarrierError(f"{path}: corrupt manifest ({exc})") from None


class RunCache:
    """Loads run files on demand and keeps them (a run of 1,080 particles × 45 records is ~1 MB).

    ``inherent``: configurations are the inherent structures.  Runs other than the curve
    runs hold them only at the dataset temperatures; with ``quench_missing`` a missing one
    is FIRE-quenched on demand (LAMMPS, ~2 s for 1,080 particles, the run's own settings)
    and kept under ``DATA/extra_is/`` (the run files, and with them E_IS(T), Tg and the
    manifest, are left unchanged).
    """

    def __init__(self, data_dir: Union[str, Path], inherent: bool = False, quench_missing: bool = False):
        self.data_dir = Path(data_dir)
        self.inherent = inherent
        self.quench_missing = quench_missing
        self._runs: Dict[str, object] = {}

    def run(self, rel: str):

        if rel not in self._runs:
            self._runs[rel] = load_run(self.data_dir / rel)
        return self._runs[rel]

    def config(self, rel: str, record: int, label: int = -1) -> Config:
        run = self.run(rel)
        pos = run.is_positions[record] if self.inherent else run.positions[record]
        if self.inherent and self.quench_missing and not np.all(np.isfinite(pos)):
            pos = self._extra_inherent(rel, run, record)
        if not np.all(np.isfinite(pos)):
            raise MgBarrierError(f"{self.data_dir / rel}: record {record} has no "
                                 f"{'inherent structure' if self.inherent else 'positions'}")
        return Config(positions=np.asarray(pos, dtype=np.float32), is_b=run.types == 2,
                      box=np.array([run.box_length] * 2), label=int(label),
                      name=f"{rel}[T={float(run.temperatures[record]):g}]")

    def _extra_inherent(self, rel: str, run, record: int) -> np.ndarray:
        from ..io.files import atomic_write

        path = self.data_dir / "extra_is" / f"{Path(rel).with_suffix('')}_r{record:03d}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                return z["is_positions"]
        e, xy = inherent_structure(run, record)
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp):
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, is_positions=xy, e_is=np.float64(e), record=np.int64(record),
                                    temperature=np.float64(run.temperatures[record]))

        atomic_write(path, write)
        return xy


def load_split(data_dir: Union[str, Path], dataset: Union[int, str], split: str, manifest: Optional[dict] = None,
               cache: Optional[RunCache] = None, limit: Optional[int] = None) -> List[Config]:
    """The configurations of ``dataset`` (1-6) and ``split`` ('train', 'val', 'test')."""
    manifest = manifest or read_manifest(data_dir)
    key = str(dataset)
    if key not in manifest["datasets"]:
        raise MgBarrierError(f"{Path(data_dir) / 'datasets.json'}: no dataset {key} "
                             f"(has {', '.join(sorted(manifest['datasets']))})")
    if split not in SPLITS:
        raise MgBarrierError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    cache = cache or RunCache(data_dir)
    items = manifest["datasets"][key][split]
    if limit is not None:  # balanced: alternate glass and liquid
        g = [e for e in items if e[2] == 1]
        q = [e for e in items if e[2] == 0]
        items = [e for pair in zip(g, q) for e in pair][:limit]
    return [cache.config(rel, rec, lab) for rel, rec, lab in items]
