"""Generate the cooling runs and the six datasets into a data folder (resumable).

Two cooling rates, as the seed: ``slow`` (datasets 1-5 and the liquids of 6) and ``fast``
(the glasses of dataset 6); ``t_cool_fast = t_cool_slow / 100`` as the seed unless the
preset or ``t_cool_fast`` says otherwise (the hour preset uses / 10: at its slow rate a
100-times faster quench is nearly instantaneous and freezes the T ≈ 1.7 liquid).  Every run records
positions on the temperature grid (cheap); the inherent structure (a FIRE quench, the
expensive part) is computed at every recorded temperature only for the first
``n_curve`` runs of each rate (the E_IS(T) curves, Tg, and the choice of dataset 6's liquid
temperature) and otherwise only at the dataset temperatures.

Presets (measured costs and extrapolations: ``lammps_examples/kob_andersen_2d/README.md``):

========  ======  ==========  ==========  ======  ======  =======================================
 preset    N       t_cool      t_cool      runs    runs    use
                   slow        fast        slow    fast
========  ======  ==========  ==========  ======  ======  =======================================
 tiny      120     2,000       200         6       4       tests (seconds)
 quick     270     10,000      100         10      6       --quick smoke run (about a minute)
 hour      1,080   100,000     10,000      120     120     this 2-core machine in about an hour
 seed      4,320   2e7         2e5         10,000  10,000  the seed (about 1e4 core-days)
========  ======  ==========  ==========  ======  ======  =======================================

Folder layout: :mod:`.datasets`.  Each run is written atomically when it ends, so an
interrupted build resumes with the runs that are missing.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from ..errors import MgBarrierError
from .datasets import GLASS_T, build_manifest, write_manifest
from .kob_andersen import DATASET_TEMPERATURES, KASettings, default_record_temperatures

PRESETS: Dict[str, dict] = {
    "tiny": dict(n_particles=120, t_cool=2_000, t_cool_fast=200, t_equil=500, n_slow=6, n_fast=4, n_curve=4, grid=0.25),
    "quick": dict(n_particles=270, t_cool=10_000, t_equil=1_000, n_slow=10, n_fast=6, n_curve=4, grid=0.1),
    "hour": dict(n_particles=1080, t_cool=100_000, t_cool_fast=10_000, t_equil=4_000, n_slow=120, n_fast=120,
                 n_curve=16, grid=0.05),
    "seed": dict(n_particles=4320, t_cool=20_000_000, t_equil=0, n_slow=10_000, n_fast=10_000, n_curve=10_000,
                 grid=0.05),
}
RATE_RATIO = 100  # t_cool slow / t_cool fast, as the seed's 2e7 / 2e5
FAST_SEED_OFFSET = 500_000


@dataclass
class BuildPlan:
    """What to generate: the physics of each rate and how many runs."""

    slow: KASettings
    fast: KASettings
    n_slow: int
    n_fast: int
    n_curve: int
    seed: int = 1

    def settings_for(self, rate: str, index: int) -> KASettings:
        """Settings of run ``index`` of ``rate`` (curve runs quench every record)."""
        base = self.slow if rate == "slow" else self.fast
        if index < self.n_curve:
            return base
        q = list(DATASET_TEMPERATURES) if rate == "slow" else [GLASS_T]
        return KASettings(**{**base.to_dict(), "quench_temperatures": q})

    def run_seed(self, rate: str, index: int) -> int:
        return self.seed + index + (FAST_SEED_OFFSET if rate == "fast" else 0)

    def physics(self) -> dict:
        """The part of the plan a resumed build must share with the runs already made."""
        strip = lambda d: {k: v for k, v in d.items() if k != "quench_temperatures"}  # noqa: E731
        return {"slow": strip(self.slow.to_dict()), "fast": strip(self.fast.to_dict()), "seed": self.seed}


def make_plan(preset: str = "hour", n_particles: Optional[int] = None, t_cool: Optional[int] = None,
              t_cool_fast: Optional[int] = None, n_slow: Optional[int] = None, n_fast: Optional[int] = None,
              n_curve: Optional[int] = None, grid: Optional[float] = None, t_equil: Optional[int] = None,
              seed: int = 1) -> BuildPlan:
    """A :class:`BuildPlan` from a preset, with any value overridden."""
    if preset not in PRESETS:
        raise MgBarrierError(f"--preset: one of {', '.join(PRESETS)}, got {preset!r}")
    p = dict(PRESETS[preset])
    for key, val in (("n_particles", n_particles), ("t_cool", t_cool), ("n_slow", n_slow), ("n_fast", n_fast),
                     ("n_curve", n_curve), ("grid", grid), ("t_equil", t_equil)):
        if val is not None:
            p[key] = val
    if t_cool_fast is not None:
        fast_steps = t_cool_fast
    elif t_cool is None and "t_cool_fast" in p:
        fast_steps = p["t_cool_fast"]
    else:
        fast_steps = max(1, p["t_cool"] // RATE_RATIO)
    temps = default_record_temperatures(p["grid"])
    common = dict(n_particles=p["n_particles"], t_equil=p["t_equil"], record_temperatures=temps)
    plan = BuildPlan(slow=KASettings(t_cool=p["t_cool"], **common), fast=KASettings(t_cool=fast_steps, **common),
                     n_slow=p["n_slow"], n_fast=p["n_fast"], n_curve=p["n_curve"], seed=seed)
    plan.slow.check()
    plan.fast.check()
    if min(plan.n_slow, plan.n_fast, plan.n_curve) < 0 or plan.n_slow < 1:
        raise MgBarrierError("run counts: need n_slow >= 1 and n_fast, n_curve >= 0")
    return plan


def run_path(data_dir: Path, rate: str, seed: int) -> Path:
    return Path(data_dir) / "sims" / rate / f"seed_{seed:06d}.npz"


def _one_run(job: tuple) -> tuple:
    """Worker: one cooling run written to its file; returns (rate, seed, wall seconds)."""
    settings_dict, rate, seed, path, verbose = job
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from .kob_andersen import KASettings, run_cooling, save_run

    s = KASettings(**settings_dict)
    run = run_cooling(s, seed, progress=(lambda m: print(f"  [{rate}] {m}", flush=True)) if verbose else None)
    save_run(path, run)
    return rate, seed, run.wall_s


def generate(data_dir: Path, plan: BuildPlan, jobs: int = 1, log: Callable[[str], None] = print,
             verbose: bool = False) -> dict:
    """Make the missing runs of ``plan`` under ``data_dir`` (``jobs`` single-process LAMMPS
    at once), then write ``datasets.json``.  Returns a summary with timings."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    from ..io.files import atomic_write

    settings_path = data_dir / "settings.json"
    phys = plan.physics()
    if settings_path.exists():
        try:
            old = json.loads(settings_path.read_text())
        except json.JSONDecodeError:
            raise MgBarrierError(f"{settings_path}: corrupt; delete it (the runs stay valid only if their "
                                 "settings match)") from None
        if old.get("physics") != phys:
            raise MgBarrierError(f"{settings_path}: this folder holds runs made with other settings "
                                 "(particles, steps, temperatures or seed); use another -o folder")
    record = {"physics": phys, "n_slow": plan.n_slow, "n_fast": plan.n_fast, "n_curve": plan.n_curve}
    atomic_write(settings_path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1)))
    todo = []
    for rate, count in (("slow", plan.n_slow), ("fast", plan.n_fast)):
        (data_dir / "sims" / rate).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            seed = plan.run_seed(rate, i)
            path = run_path(data_dir, rate, seed)
            if not path.exists():
                todo.append((plan.settings_for(rate, i).to_dict(), rate, seed, str(path), verbose))
    have = plan.n_slow + plan.n_fast - len(todo)
    log(f"glass-data: {data_dir}: {have} run(s) present, {len(todo)} to make "
        f"(N {plan.slow.n_particles}, t_cool {plan.slow.t_cool} / {plan.fast.t_cool} steps, {jobs} job(s))")
    t0 = time.perf_counter()
    walls = {"slow": [], "fast": []}
    if todo:
        if jobs <= 1:
            results = (_one_run(j) for j in todo)
            _collect(results, todo, walls, t0, log)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as ex:
                futs = [ex.submit(_one_run, j) for j in todo]
                _collect((f.result() for f in as_completed(futs)), todo, walls, t0, log)
    manifest = build_manifest(data_dir)
    write_manifest(data_dir, manifest)
    counts = manifest["counts"]
    log("datasets (glass/liquid per split train, val, test): " + "; ".join(
        f"{k}: " + " ".join(f"{g}/{q}" for g, q in counts[k].values()) for k in sorted(counts)))
    if manifest.get("dataset6"):
        d6 = manifest["dataset6"]
        le = d6["liquid_e_is"]
        log(f"dataset 6: fast glass E_IS {d6['glass_e_is']:.4f}, slow liquid at T {d6['liquid_t']:g} "
            f"E_IS {le if le is None else round(le, 4)} (seed: 0.55)")
    return {"made": len(todo), "wall_s": time.perf_counter() - t0,
            "mean_run_s": {r: (float(np.mean(w)) if w else None) for r, w in walls.items()}, "manifest": manifest}


def _collect(results, todo, walls, t0, log):
    n = len(todo)
    for k, (rate, seed, wall) in enumerate(results, 1):
        walls[rate].append(wall)
        el = time.perf_counter() - t0
        log(f"run {k}/{n} ({rate}, seed {seed}) done in {wall:.1f} s; elapsed {el:.0f} s, "
            f"about {el / k * (n - k):.0f} s to go")
