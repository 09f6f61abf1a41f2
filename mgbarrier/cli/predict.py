"""``mgbarrier predict``: barriers for every frame of a structure file."""
from __future__ import annotations

from ..errors import MgBarrierError
from ..io.formats import OUTPUT_FORMATS
from ..io.species import parse_species_map
from ..models.registry import default_model_name
from ..pipeline import predict_file
from .common import (
    add_potential_options,
    array_name_spec,
    device_spec,
    frames_spec,
    output_path,
    positive_float,
    positive_int,
    potential_from_args,
    species_spec,
)


def register(sub) -> None:
    p = sub.add_parser("predict", help="predict barriers for every frame of a structure file")
    p.add_argument("input", help="structure file: extxyz, LAMMPS dump (.lammpstrj/.dump[.gz]) or data file, "
                                 "SymGNN pickle, or anything ase.io reads")
    p.add_argument("-o", "--output", required=True,
                   help="extxyz (per-atom 'barrier'), LAMMPS dump (.lammpstrj/.dump[.gz], column d_barrier) "
                        "or LAMMPS data (.data, section Barriers)")
    p.add_argument("--model", default=None, help=f"model file or shipped name (default: {_default()})")
    p.add_argument("--species", type=species_spec, default=None, help="LAMMPS type -> element, e.g. 1=Cu,2=Zr")
    p.add_argument("--device", type=device_spec, default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--frames", type=frames_spec, default=None,
                   help="K or START:STOP:STEP (Python slice of frames; default all)")
    p.add_argument("--output-format", default=None, choices=list(OUTPUT_FORMATS),
                   help="format of -o (default: from its name)")
    p.add_argument("--n-transforms", type=positive_int, default=None,
                   help="use the paper's sampled average over N transforms instead of the exact invariant one")
    p.add_argument("--output-name", type=array_name_spec, default=None,
                   help="name of the predicted per-atom array (default: barrier, or barrier_pred when the "
                        "input already has 'barrier' values, which are never replaced)")
    p.add_argument("--max-memory", type=positive_float, default=None, metavar="GB",
                   help="memory one prediction may use; larger frames run in spatial domains with halos "
                        "(same values) (default: 4, or $MGBARRIER_MAX_MEMORY)")
    d = p.add_mutually_exclusive_group()
    d.add_argument("--workers", type=positive_int, default=None,
                   help="predict frames on a local Dask cluster of N single-threaded processes "
                        "(pip install 'mgbarrier[label]')")
    d.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="predict frames on an existing Dask cluster (tcp://host:8786 or a scheduler .json file)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary line")
    q = p.add_argument_group("quench (barriers are defined for minimised structures: quench MD frames first)")
    q.add_argument("--quench", action="store_true",
                   help="quench every frame (LAMMPS FIRE then CG, fixed cell) with the potential below before "
                        "predicting; barriers are written next to the original coordinates")
    q.add_argument("--quench-fmax", type=positive_float, default=1e-3,
                   help="force tolerance of the quench: largest per-atom force, eV/Å")
    q.add_argument("--quench-max-steps", type=positive_int, default=10000,
                   help="most minimiser steps per frame; a frame not converged by then is an error")
    q.add_argument("--write-quenched", action="store_true",
                   help="write the quenched coordinates instead of the original ones")
    add_potential_options(p, "quench")
    p.set_defaults(func=run)


def _default() -> str:
    try:
        return default_model_name()
    except Exception:  # no weights installed: the help text must still work
        return "the shipped model"


def run(args) -> int:
    out = output_path(args.output, [args.input], output_format=args.output_format)
    species_map = parse_species_map(args.species)
    potential = potential_from_args(args)
    if args.quench and potential is None:
        raise MgBarrierError("--quench needs a potential: --pair-style STYLE --pair-coeff ARGS or --potential FILE")
    if not args.quench and (potential is not None or args.write_quenched):
        raise MgBarrierError("a potential and --write-quenched are used only with --quench")
    predict_file(args.input, out, model=args.model, species_map=species_map, device=args.device,
                 frames=args.frames, output_format=args.output_format, quiet=args.quiet,
                 n_transforms=args.n_transforms, quench=potential if args.quench else None,
                 quench_fmax=args.quench_fmax, quench_max_steps=args.quench_max_steps,
                 write_quenched=args.write_quenched, output_name=args.output_name,
                 max_memory=args.max_memory, workers=args.workers, scheduler=args.scheduler)
    return 0
