#!/usr/bin/env python
"""Predict per-atom barriers on the fly during a LAMMPS MD run (or quench).

    python run_in_situ.py --data glass.data --steps 2000 --every 500 --model model.pt -o insitu.dump

The script drives LAMMPS through ``mgbarrier.lammps`` in blocks of ``--every`` steps
(``run N start 0 stop STEPS pre no post no``, so thermostat ramps span the whole run).
At step 0 and after each block it gathers positions, types and box, predicts the barriers
(eV) and stores them in the per-atom property ``d_barrier`` (``fix property/atom``), then
appends a frame ``id type element x y z d_barrier`` to the output dump with ``write_dump``
*after* the prediction, so the dump is never one block behind.  A ``dump custom ...
d_barrier`` defined by the user in ``--input`` would be written by LAMMPS at the end of a
block, before the prediction for that step: its ``d_barrier`` would lag by one block.

Barriers are defined for minimised structures: with ``--quench`` each prediction is made on
the inherent structure of a *copy* of the running configuration (``mgbarrier.md.quench``:
FIRE then CG to ``--quench-fmax`` eV/Å, fixed cell, in a separate LAMMPS instance), so the
MD itself is untouched.  The quench uses the MD's potential with ``--data``, and the
``pair_style``/``pair_coeff`` file ``--quench-potential`` with ``--input``.  The quench
instance is serial: run ``--quench`` on one MPI rank.

Species come from the per-type masses (``mass`` / Masses section) or ``--species 1=Cu,2=Zr``.
Every block prints ``step temp pe <B>_Cu <B>_Zr`` (mean barrier per species, eV), like thermo.

Without ``--input`` the script sets up: ``read_data --data``, the EAM potential
(``--potential``, default the wheel's Mendelev CuZr_mm.eam.fs), velocities at ``--t-start``,
``fix npt`` (or ``--ensemble nvt``) ramping ``--t-start`` -> ``--t-end`` (a quench when they
differ), 1 fs timestep.  With ``--input FILE`` your own LAMMPS commands define the system,
potential and integrator instead (then ``--data``/``--potential``/temperatures are ignored).

Under ``mpirun -np P python run_in_situ.py ...`` every rank gathers the configuration and,
without mpi4py, predicts it too (identical results; see README); each rank then fills
``d_barrier`` of its own atoms.  Only rank 0 prints.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="LAMMPS data file of the starting structure (atom_style atomic)")
    src.add_argument("--input", help="LAMMPS input that sets up system, potential and fixes (no run)")
    p.add_argument("--steps", type=int, default=1000, help="MD steps in total (default 1000)")
    p.add_argument("--every", type=int, default=100, help="predict every N steps (default 100)")
    p.add_argument("--t-start", type=float, default=300.0, help="start temperature, K (default 300)")
    p.add_argument("--t-end", type=float, default=None, help="end temperature, K (default: --t-start)")
    p.add_argument("--ensemble", choices=("npt", "nvt"), default="npt", help="default npt at 0 bar")
    p.add_argument("--seed", type=int, default=4928, help="velocity seed")
    p.add_argument("--potential", default="CuZr_mm.eam.fs", help="EAM potential file (path or wheel name)")
    p.add_argument("--pair-style", default=None, help="default: eam/fs for *.fs files, else eam/alloy")
    p.add_argument("--species", default=None, help="type to element map like 1=Cu,2=Zr (default: masses)")
    p.add_argument("--model", default=None, help="barrier model checkpoint (default: shipped model)")
    p.add_argument("--quench", action="store_true",
                   help="predict on the quench of a copy of each configuration (MD untouched)")
    p.add_argument("--quench-fmax", type=float, default=1e-3, help="quench force tolerance, eV/Å (default 1e-3)")
    p.add_argument("--quench-potential", default=None,
                   help="file of LAMMPS pair_style/pair_coeff commands for the quench (needed with --input; "
                        "default with --data: the MD's potential)")
    p.add_argument("-o", "--output", default="in_situ.dump", help="output dump (default in_situ.dump)")
    p.add_argument("--log", default="none", help="LAMMPS log file (default none)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    args = p.parse_args(argv)
    if args.steps < 0 or args.every < 1:
        p.error("--steps must be >= 0 and --every >= 1")
    if args.t_end is None:
        args.t_end = args.t_start
    if args.quench and args.input is not None and args.quench_potential is None:
        p.error("--quench with --input needs --quench-potential FILE (the pair_style/pair_coeff commands)")
    return args


def quench_potential(args, species_map):
    """The :class:`mgbarrier.md.Potential` of the quench (None without ``--quench``)."""
    from mgbarrier.lammps import potential_path
    from mgbarrier.md import Potential

    if not args.quench:
        return None
    if args.quench_potential is not None:
        return Potential.from_file(args.quench_potential)
    pot = potential_path(args.potential)
    pair = args.pair_style or ("eam/fs" if pot.name.endswith(".fs") else "eam/alloy")
    return Potential.from_options(pair, [f"* * {pot} " + " ".join(species_map[t] for t in sorted(species_map))])


def setup_commands(args, species_map) -> str:
    """LAMMPS commands that read the data file and set up potential and integrator."""
    from mgbarrier.lammps import potential_path

    pot = potential_path(args.potential)
    pair = args.pair_style or ("eam/fs" if pot.name.endswith(".fs") else "eam/alloy")
    elems = " ".join(species_map[t] for t in sorted(species_map))
    baro = "iso 0.0 0.0 1.0" if args.ensemble == "npt" else ""
    return f"""
units metal
atom_style atomic
boundary p p p
atom_modify map array
read_data {args.data}
pair_style {pair}
pair_coeff * * {pot} {elems}
neighbor 2.0 bin
neigh_modify every 1 delay 0 check yes
timestep 0.001
velocity all create {max(args.t_start, 1e-3):g} {args.seed} mom yes rot yes dist gaussian
fix mgb_md all {args.ensemble} temp {args.t_start:g} {args.t_end:g} 0.1 {baro}
thermo_style custom step temp pe press vol
"""


def _types_in_data(path: str, species_map=None) -> dict:
    """{type: element} of a data file: ``species_map`` checked against its types, else its Masses."""
    from mgbarrier.io.lammps_data import read_lammps_data

    atoms = read_lammps_data(path, species_map or None)   # refuses unmapped types
    return {int(t): s for t, s in zip(atoms.arrays["type"], atoms.get_chemical_symbols())}


class _Broadcast:
    """Share rank 0's prediction with all ranks when mpi4py is available; else each rank predicts."""

    def __init__(self):
        try:
            from mpi4py import MPI

            self.comm = MPI.COMM_WORLD
        except ImportError:
            self.comm = None

    def predict(self, model, atoms, rank: int, nprocs: int) -> np.ndarray:
        if nprocs == 1 or self.comm is None:
            return model.predict(atoms)
        values = model.predict(atoms) if rank == 0 else None
        return self.comm.bcast(values, root=0)


def main(argv=None) -> int:
    import mgbarrier
    from mgbarrier.errors import MgBarrierError, error_line

    args = parse_args(argv)
    try:
        from mgbarrier.io.species import parse_species_map
        from mgbarrier.lammps import atoms_from_lammps, lammps, set_per_atom_property, species_map_from_masses

        model = mgbarrier.load_model(args.model)
        species_map = parse_species_map(args.species)
        if args.data is not None:
            if not Path(args.data).is_file():
                raise MgBarrierError(f"{args.data}: no such file")
            species_map = _types_in_data(args.data, species_map)
        elif not Path(args.input).is_file():
            raise MgBarrierError(f"{args.input}: no such file")

        lmp = lammps(cmdargs=["-log", args.log, "-screen", "none", "-nocite"])
        rank = int(lmp.extract_setting("world_rank"))
        nprocs = int(lmp.extract_setting("world_size"))
        talk = rank == 0 and not args.quiet
        if args.data is not None:
            lmp.commands_string(setup_commands(args, species_map))
        else:
            lmp.file(args.input)
        if not species_map:
            species_map = species_map_from_masses(lmp)
        from mgbarrier.io.species import map_types

        map_types(np.arange(1, int(lmp.extract_global("ntypes")) + 1), species_map,
                  args.input or args.data)   # every type needs an element, before anything runs
        qpot = quench_potential(args, species_map)
        elems = " ".join(species_map[t] for t in sorted(species_map))
        species = sorted(set(species_map.values()))
        out = Path(args.output)
        if rank == 0 and out.exists():
            out.unlink()   # frames are appended below
        bcast = _Broadcast()

        if talk:
            print(f"in-situ barriers: {args.steps} steps, predicting every {args.every}; model {model.path}")
            print(f"{'Step':>8s} {'Temp':>9s} {'PotEng':>13s} " + " ".join(f"{'<B>_' + s:>8s}" for s in species)
                  + f" {'t_pred/s':>8s}")
        first = True
        step0 = int(lmp.extract_global("ntimestep"))
        done = 0
        old = signal.signal(signal.SIGINT, signal.SIG_DFL)   # Ctrl-C ends the run at once
        try:
            while True:
                if first:
                    lmp.command("run 0 post no")   # set up forces/thermo so step 0 has a temperature
                t0 = time.perf_counter()
                atoms = atoms_from_lammps(lmp, species_map)
                target = atoms
                if qpot is not None:   # a copy is quenched; the running MD is untouched
                    from mgbarrier.md import quench

                    target = quench(atoms, qpot, fmax=args.quench_fmax).atoms
                barriers = bcast.predict(model, target, rank, nprocs)     # (N,) eV, by atom id
                set_per_atom_property(lmp, "barrier", atoms.arrays["id"], barriers)
                lmp.command(f"write_dump all custom {out} id type element x y z d_barrier modify element {elems} "
                            f"sort id append {'no' if first else 'yes'} format float %.10g")
                t_pred = time.perf_counter() - t0
                if talk:
                    symbols = np.array(atoms.get_chemical_symbols())
                    means = [barriers[symbols == s].mean() if np.any(symbols == s) else float("nan")
                             for s in species]
                    print(f"{atoms.info['timestep']:8d} {lmp.get_thermo('temp'):9.2f} {lmp.get_thermo('pe'):13.4f} "
                          + " ".join(f"{m:8.4f}" for m in means) + f" {t_pred:8.2f}", flush=True)
                first = False
                if done >= args.steps:
                    break
                n = min(args.every, args.steps - done)
                lmp.command(f"run {n} start {step0} stop {step0 + args.steps} pre {'yes' if done == 0 else 'no'} "
                            "post no")
                done += n
        finally:
            signal.signal(signal.SIGINT, old)
        lmp.close()
        if talk:
            print(f"wrote {out}")
    except Exception as err:  # ours (MgBarrierError) and LAMMPS's (plain Exception): one line
        line = error_line(err)
        if line is None:
            raise
        print(f"run_in_situ: error: {line}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
