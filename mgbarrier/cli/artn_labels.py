"""``mgbarrier artn-labels``: per-atom barriers from lammps-ARTn ``log.event`` files."""
from __future__ import annotations

from ..io.artn import MAX_BARRIER, expand_event_globs, format_summary, label_from_files
from ..io.species import parse_species_map
from ..io.writers import write_structures
from .common import output_path, species_spec


def register(subparsers) -> None:
    """Add ``mgbarrier artn-labels`` to the ``mgbarrier`` command line."""
    p = subparsers.add_parser(
        "artn-labels", help="label a structure with per-atom barriers from lammps-ARTn log.event files",
        description="Per-atom barrier (eV) = mean del-E of the confirmed ARTn events centred on the atom "
                    "(rows after an accepted new minimum, non-finite, non-positive and implausible barriers, "
                    f"above {MAX_BARRIER:g} eV, are dropped and counted); atoms without events get NaN.",
    )
    p.add_argument("--structure", required=True, help="LAMMPS data file the events were computed on")
    p.add_argument("--events", required=True, action="append", nargs="+", metavar="GLOB",
                   help="log.event files or quoted glob patterns, e.g. 'artn/log.event.*' (repeatable)")
    p.add_argument("--species", type=species_spec, default=None,
                   help="LAMMPS type -> element, e.g. 1=Zr,2=Cu (default: by mass)")
    p.add_argument("-o", "--output", required=True, help="extxyz with per-atom 'barrier' (eV, NaN = no events)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the summary")
    p.set_defaults(func=cmd_artn_labels)


def cmd_artn_labels(args) -> int:
    patterns = [g for group in args.events for g in group]
    files = expand_event_globs(patterns)
    out = output_path(args.output, [args.structure, *files], formats=("extxyz",))
    atoms, summary = label_from_files(args.structure, files, parse_species_map(args.species))
    write_structures(out, [atoms], "extxyz")
    if not args.quiet:
        print(format_summary(summary))
        print(f"wrote {out}: {summary['atoms_labelled']} of {summary['atoms']} atoms labelled with 'barrier' (eV)")
    return 0
