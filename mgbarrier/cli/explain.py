"""``mgbarrier explain``: GNNExplainer explanations of chosen atoms' barriers, written to a folder.

Output folder (written to a temporary folder, renamed when complete):
  atom_<i>.json         prediction (eV), top edges, important atoms, MRO and cycle numbers
  atom_<i>_edges.csv    every receptive-field edge: rank,i,j,importance,distance_A,length_A,hop,cycles
  summary.csv/.md/.json one row per atom; pooled cycles-per-importance-bin table (paper Table 6)
  distance_distribution.png, cycles_per_bin.png
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

from ..errors import MgBarrierError
from .common import nonnegative_float, nonnegative_int, positive_float, positive_int, species_spec


def register(subparsers) -> None:
    """Add ``mgbarrier explain`` to the ``mgbarrier`` command line."""
    p = subparsers.add_parser(
        "explain", help="explain predicted barriers of chosen atoms (GNNExplainer, MRO, persistent homology)",
        description="Learns an importance in [0, 1] for every edge of each chosen atom's receptive field "
                    "(GNNExplainer for regression, the paper's Eq. 7), then compares the distances of the "
                    "important atoms with all atoms (MRO) and counts the optimal 1-cycles of an alpha complex "
                    "that each edge takes part in (paper Table 6). Needs a SymGNN checkpoint.")
    p.add_argument("structure", help="structure file (extxyz, LAMMPS data/dump, SymGNN pickle, ...)")
    p.add_argument("--atom", type=nonnegative_int, action="append", metavar="ID",
                   help="atom to explain: 0-based index in the file's order (repeatable)")
    p.add_argument("--atoms", default=None, metavar="SPEC",
                   help="more atoms: random:N (N distinct atoms drawn with --seed) or a list 3,17,40")
    p.add_argument("--by-id", action="store_true", help="--atom/--atoms list values are LAMMPS atom ids")
    p.add_argument("-o", "--output", required=True, help="output folder (must not exist or be empty, or --force)")
    p.add_argument("--model", default=None, help="SymGNN checkpoint or shipped name (default: cu64zr36-symgnn, "
                        "the graph network of the default ensemble)")
    p.add_argument("--species", type=species_spec, default=None, help="LAMMPS type -> element, e.g. 1=Cu,2=Zr")
    p.add_argument("--frame", type=nonnegative_int, default=0, help="frame of a multi-frame file (default 0)")
    p.add_argument("--top", type=positive_int, default=50,
                   help="edges in the explanation / per importance bin (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mask initialisation and random choices")
    p.add_argument("--epochs", type=positive_int, default=200, help="optimisation steps per atom (default 200)")
    p.add_argument("--lr", type=positive_float, default=0.05, help="Adam step size (default 0.05)")
    p.add_argument("--size-coef", type=nonnegative_float, default=0.005, help="weight of Σ mask (default 0.005)")
    p.add_argument("--entropy-coef", type=nonnegative_float, default=1.0, help="weight of the mask entropy (default 1)")
    p.add_argument("--filtration", choices=["alpha", "rips"], default="alpha",
                   help="complex whose optimal 1-cycles are counted")
    p.add_argument("--topology-radius", type=positive_float, default=None,
                   help="Å around the centre analysed by persistent homology (default: layers × cutoff, "
                        "capped by the periodic cell)")
    p.add_argument("--rips-max-edge", type=positive_float, default=None,
                   help="Å, Rips only (default: the model cutoff)")
    p.add_argument("--no-topology", action="store_true", help="skip persistent homology (no gudhi needed)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (no matplotlib needed)")
    p.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary line")
    p.set_defaults(func=cmd_explain)


# ----------------------------------------------------------------------------- atoms
def parse_atom_spec(spec: Optional[str]) -> tuple:
    """'random:N' -> ('random', N); '3,17' -> ('list', [3, 17]); None -> ('list', [])."""
    if not spec:
        return "list", []
    text = spec.strip()
    if text.lower().startswith("random:"):
        try:
            n = int(text.split(":", 1)[1])
        except ValueError:
            raise MgBarrierError(f"--atoms: expected random:N or a list like 3,17,40, got {spec!r}") from None
        if n < 1:
            raise MgBarrierError(f"--atoms: random:N needs N >= 1, got {spec!r}")
        return "random", n
    try:
        return "list", [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise MgBarrierError(f"--atoms: expected random:N or a list like 3,17,40, got {spec!r}") from None


def select_atoms(single: Optional[Sequence[int]], spec: Optional[str], n_atoms: int, seed: int = 0,
                 ids=None, by_id: bool = False, source: str = "structure") -> List[int]:
    """Atom indices (0-based, in order given, duplicates dropped) from --atom and --atoms."""
    import numpy as np

    kind, val = parse_atom_spec(spec)
    given = list(single or []) + (val if kind == "list" else [])
    if by_id:
        if ids is None:
            raise MgBarrierError(f"{source}: --by-id needs atom ids (a LAMMPS data or dump file)")
        where = {int(a): k for k, a in enumerate(ids)}
        missing = [a for a in given if a not in where]
        if missing:
            raise MgBarrierError(f"{source}: no atom with id {missing[0]}")
        given = [where[a] for a in given]
    for a in given:
        if not 0 <= a < n_atoms:
            raise MgBarrierError(f"{source}: atom {a} out of range (the structure has {n_atoms} atoms, "
                                 f"indices 0..{n_atoms - 1})")
    if kind == "random":
        if val > n_atoms:
            raise MgBarrierError(f"{source}: --atoms random:{val} but the structure has only {n_atoms} atoms")
        drawn = np.random.default_rng(seed).choice(n_atoms, size=val, replace=False)
        given += sorted(int(a) for a in drawn)
    out = list(dict.fromkeys(int(a) for a in given))
    if not out:
        raise MgBarrierError("no atoms to explain: give --atom ID or --atoms random:N")
    return out


# ----------------------------------------------------------------------------- progress
class Progress:
    """Progress on stderr: a bar redrawn in place on a terminal, one plain line per atom otherwise."""

    def __init__(self, total: int, stream=None, enabled: bool = True, width: int = 30):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.t0 = time.perf_counter()
        if self.enabled and self.tty:
            self._bar(0, None, 0.0)

    def _bar(self, k: int, atom: Optional[int], seconds: float) -> None:
        filled = int(self.width * k / max(1, self.total))
        elapsed = time.perf_counter() - self.t0
        eta = f", ~{elapsed / k * (self.total - k):.0f} s left" if k else ""
        last = f" atom {atom} ({seconds:.1f} s)" if atom is not None else ""
        self.stream.write(f"\rexplain [{'#' * filled}{'.' * (self.width - filled)}] {k}/{self.total}{last}{eta}  ")
        if k == self.total:
            self.stream.write("\n")
        self.stream.flush()

    def __call__(self, k: int, n: int, atom: int, seconds: float) -> None:
        if not self.enabled:
            return
        if self.tty:
            self._bar(k, atom, seconds)
        else:
            self.stream.write(f"mgbarrier explain: {k}/{n} atom {atom} done ({seconds:.1f} s)\n")
            self.stream.flush()


# ----------------------------------------------------------------------------- output folder
def check_output_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise MgBarrierError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise MgBarrierError(f"{out}: folder exists and is not empty (use --force to replace it)")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise MgBarrierError(f"{out}: parent folder {parent} does not exist")


def write_folder(out: Path, fill) -> None:
    """Call ``fill(tmp_dir)`` then move the folder into place: never a half-written output."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        fill(tmp)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- command
def cmd_explain(args) -> int:
    from ..explain.api import TopologySettings, explain_atoms, model_parts
    from ..explain.explainer import ExplainerSettings
    from ..io.species import parse_species_map
    from ..io.structures import iread_structures

    out = Path(args.output)
    if args.top < 1:
        raise MgBarrierError(f"--top: must be >= 1, got {args.top}")
    if args.epochs < 1:
        raise MgBarrierError(f"--epochs: must be >= 1, got {args.epochs}")
    if args.frame < 0:
        raise MgBarrierError(f"--frame: must be >= 0, got {args.frame}")
    parse_atom_spec(args.atoms)  # syntax errors before any work
    if not args.atom and not args.atoms:
        raise MgBarrierError("no atoms to explain: give --atom ID or --atoms random:N")
    if not args.no_topology:
        from ..explain.topology import _gudhi

        _gudhi()
    if not args.no_plots:
        from ..explain.plots import _pyplot

        _pyplot()
    check_output_dir(out, args.force)
    inp = Path(args.structure)
    if out.exists() and inp.exists() and inp.resolve().is_relative_to(out.resolve()):
        raise MgBarrierError(f"{out}: the input {inp} is inside the output folder; choose another -o")

    from ..models.registry import DEFAULT_NETWORK, load_model

    model = load_model(args.model or DEFAULT_NETWORK)
    parts = model_parts(model)
    atoms = next(iter(iread_structures(inp, parse_species_map(args.species),
                                       frames=slice(args.frame, args.frame + 1))))
    source = str(inp)
    ids = atoms.arrays.get("id")
    centres = select_atoms(args.atom, args.atoms, len(atoms), args.seed, ids, args.by_id, source)
    settings = ExplainerSettings(epochs=args.epochs, lr=args.lr, size_coef=args.size_coef,
                                 entropy_coef=args.entropy_coef, seed=args.seed)
    topo = None if args.no_topology else TopologySettings(filtration=args.filtration, radius=args.topology_radius,
                                                          max_edge_length=args.rips_max_edge)
    progress = Progress(len(centres), enabled=not args.quiet)
    t0 = time.perf_counter()
    results = explain_atoms(model, atoms, centres, settings, top=args.top, topology=topo, progress=progress)
    wall = time.perf_counter() - t0
    context = {
        "structure": source, "frame": args.frame, "model": str(getattr(model, "path", args.model)),
        "cutoff": parts.cutoff, "layers": parts.n_layers, "explainer": settings.to_dict(), "top": args.top,
        "topology": None if topo is None else topo.to_dict(), "seconds": round(wall, 3),
        "command": "mgbarrier " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None,
        "symbols": atoms.get_chemical_symbols(), "ids": ids,
    }
    write_folder(out, lambda tmp: write_outputs(tmp, results, context, plots=not args.no_plots))
    if not args.quiet:
        print(f"wrote {out}: {len(results)} atom(s) explained in {wall:.1f} s (summary.md, atom_<i>.json/.csv)")
    return 0


def write_outputs(directory: Path, results, context: dict, plots: bool = True) -> None:
    """Every output file of ``mgbarrier explain`` into ``directory``."""
    import numpy as np

    from ..explain.api import pooled_cycle_bins
    from ..explain.writers import field_distances, top_distances, write_atom_files, write_summary

    for e in results:
        write_atom_files(directory, e, context)
    write_summary(directory, results, context)
    if plots:
        from ..explain.plots import plot_cycles_per_bin, plot_distance_distribution

        td = np.concatenate([top_distances(e) for e in results])
        fd = np.concatenate([field_distances(e) for e in results])
        plot_distance_distribution(directory / "distance_distribution.png", td, fd,
                                   title=f"Important atoms of the top {context.get('top')} edges, "
                                         f"{len(results)} centre atom(s)")
        pooled = pooled_cycle_bins(results)
        if pooled:
            plot_cycles_per_bin(directory / "cycles_per_bin.png", pooled,
                                title=f"Optimal cycles per edge, {len(results)} centre atom(s)")
