"""``mgbarrier import-symgnn``: the published SymGNN pickles as extxyz with ``barrier``."""
from __future__ import annotations

from ..graphs.checks import validate_atoms
from ..io.symgnn_pickle import read_symgnn_pickle
from ..io.writers import write_structures
from .common import output_path


def register(sub) -> None:
    p = sub.add_parser("import-symgnn", help="convert published SymGNN pickles to extxyz with 'barrier'")
    p.add_argument("input", nargs="+", help="SymGNN dataset pickles (numpy arrays only; nothing else is unpickled)")
    p.add_argument("-o", "--output", required=True, help="extxyz file (.xyz/.extxyz[.gz])")
    p.set_defaults(func=run)


def run(args) -> int:
    out = output_path(args.output, args.input, formats=("extxyz",))
    frames = [read_symgnn_pickle(p) for p in args.input]
    for path, atoms in zip(args.input, frames):  # what predict and train would refuse, refused here
        validate_atoms(atoms, str(path))
    write_structures(out, frames, "extxyz")
    print(f"wrote {out}: {len(frames)} structure(s) with per-atom 'barrier' (eV)")
    return 0
