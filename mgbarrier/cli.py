"""The ``mgbarrier`` command line.

Every user error prints one line ``mgbarrier: error: FILE: problem`` on stderr and exits
with status 2; outputs are written to a temporary file and renamed, so a failed run
leaves no partial or changed output.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import List, Optional

from . import __version__
from .errors import MgBarrierError, MgBarrierWarning


def _frames(text: Optional[str]) -> Optional[slice]:
    if not text:
        return None
    parts = text.split(":")
    if len(parts) == 1:
        try:
            k = int(parts[0])
        except ValueError:
            raise MgBarrierError(f"--frames: expected START:STOP:STEP, got {text!r}") from None
        return slice(k, k + 1 if k != -1 else None)
    if len(parts) > 3:
        raise MgBarrierError(f"--frames: expected START:STOP:STEP, got {text!r}")
    try:
        vals = [int(p) if p.strip() else None for p in parts] + [None] * (3 - len(parts))
    except ValueError:
        raise MgBarrierError(f"--frames: expected integers in START:STOP:STEP, got {text!r}") from None
    return slice(*vals)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


# ----------------------------------------------------------------------------- predict
def cmd_predict(args) -> int:
    from .predict_files import predict_file
    from .species import parse_species_map

    inp, out = Path(args.input), Path(args.output)
    if _same_file(inp, out):
        raise MgBarrierError(f"{out}: output would overwrite the input; choose another -o")
    species_map = parse_species_map(args.species)
    predict_file(inp, out, model=args.model, species_map=species_map, device=args.device,
                 frames=_frames(args.frames), output_format=args.output_format, quiet=args.quiet,
                 n_transforms=args.n_transforms)
    return 0


# ----------------------------------------------------------------------------- info
def cmd_info(args) -> int:
    from .predictor import SHIPPED, load_model

    model = load_model(args.model)
    print(model.describe())
    if args.model is None:
        print("shipped models: " + ", ".join(SHIPPED))
    return 0


# ----------------------------------------------------------------------------- train
def cmd_train(args) -> int:
    from .model import SymGNNConfig
    from .structures import iread_structures
    from .training import TrainingInterrupted, TrainSettings, make_labelled_graph, train
    from .symgnn_data import file_sha256

    cfg = SymGNNConfig(cutoff=args.cutoff, k_train=args.k, hidden=args.hidden, dropout=args.dropout,
                       species=args.species_list.split(",") if args.species_list else ["Cu", "Zr"],
                       node_features=args.node_features)
    if cfg.node_features == "soap":
        from .descriptor import _require_dscribe
        from .node_features import soap_dimension

        _require_dscribe()
        cfg.node_feature_dim = soap_dimension(cfg.species, cfg.soap)
    settings = TrainSettings(epochs=args.epochs, lr=args.lr, seed=args.seed, threads=args.threads,
                             warmup_epochs=min(5, max(1, args.epochs // 10)), ema_decay=args.ema,
                             stop_after=args.stop_after)
    data_info = []

    def load(paths, role):
        out = []
        for p in paths:
            for k, atoms in enumerate(iread_structures(p)):
                name = Path(p).name if k == 0 else f"{Path(p).name}[{k}]"
                out.append(make_labelled_graph(atoms, cfg, name))
            data_info.append({"file": str(p), "role": role, "sha256": file_sha256(p)})
        return out

    train_set = load(args.train or [], "train")
    val_set = load(args.val or [], "validation")
    if getattr(args, "runs", None) or getattr(args, "val_runs", None):
        from .artn import labelled_structure_from_run

        for role, dirs, dest in (("train", args.runs or [], train_set), ("validation", args.val_runs or [], val_set)):
            for d in dirs:
                atoms, info = labelled_structure_from_run(d, species_map=_species(args))
                dest.append(make_labelled_graph(atoms, cfg, Path(d).name))
                data_info.append({"run": str(d), "role": role, **info})
    if not train_set:
        raise MgBarrierError("no training data: give --train FILE... or --runs DIR...")
    meta = {"description": args.description or "SymGNN energy-barrier model",
            "training": {"data": data_info, "command": "mgbarrier " + " ".join(sys.argv[1:]),
                         "protocol": args.protocol or "trained on --train, best epoch chosen on --val"}}
    out = Path(args.output)
    try:
        summary = train(train_set, val_set, cfg, settings, out, Path(args.run_dir) if args.run_dir else None,
                        metadata=meta)
    except TrainingInterrupted as exc:
        print(f"mgbarrier: interrupted; run the same command again to resume ({exc})", file=sys.stderr)
        return 130
    print(f"wrote {out}: best validation Pearson {summary['best']['pearson']:.4f} at epoch "
          f"{summary['best']['epoch']} ({summary['wall_time_s']:.0f} s)")
    return 0


def _species(args):
    from .species import parse_species_map

    return parse_species_map(getattr(args, "species", None))


# ----------------------------------------------------------------------------- import-symgnn
def cmd_import_symgnn(args) -> int:
    import ase.io

    from .structures import atomic_write
    from .symgnn_data import read_symgnn_pickle

    out = Path(args.output)
    frames = [read_symgnn_pickle(p) for p in args.input]
    atomic_write(out, lambda tmp: ase.io.write(str(tmp), frames, format="extxyz"))
    print(f"wrote {out}: {len(frames)} structure(s) with per-atom 'barrier' (eV)")
    return 0


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="mgbarrier", description="Per-atom energy barriers of metallic glasses.")
    ap.add_argument("--version", action="version", version=f"mgbarrier {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="predict barriers for every frame of a structure file")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True,
                   help="extxyz (per-atom 'barrier'), LAMMPS dump (.lammpstrj/.dump[.gz], column d_barrier) "
                        "or LAMMPS data (--output-format lammps-data)")
    p.add_argument("--model", default=None, help="model file or shipped name (default: cu64zr36-symgnn)")
    p.add_argument("--species", default=None, help="LAMMPS type -> element, e.g. 1=Cu,2=Zr")
    p.add_argument("--device", default="cpu")
    p.add_argument("--frames", default=None, help="START:STOP:STEP (Python slice of frames)")
    p.add_argument("--output-format", default=None, choices=["extxyz", "lammps-dump", "lammps-data"])
    p.add_argument("--n-transforms", type=int, default=None,
                   help="use the paper's sampled average over N transforms instead of the exact invariant one")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("info", help="describe a model (default: the shipped one)")
    p.add_argument("--model", default=None)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("train", help="train a SymGNN model from labelled structures")
    p.add_argument("--train", nargs="+", help="labelled structures: extxyz with per-atom 'barrier' (eV) or SymGNN pickles")
    p.add_argument("--val", nargs="+", help="validation structures (model selection)")
    p.add_argument("--runs", nargs="+", help="run directories: a LAMMPS data file + ARTn log.event* files")
    p.add_argument("--val-runs", nargs="+", help="validation run directories")
    p.add_argument("--species", default=None, help="LAMMPS type -> element for --runs, e.g. 1=Cu,2=Zr")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--run-dir", default=None, help="resumable training state (default: OUTPUT.run/)")
    p.add_argument("--epochs", type=int, default=200, help="length of the schedule (cosine decay to its end)")
    p.add_argument("--stop-after", type=int, default=None,
                   help="end this run after that epoch, keeping the state (run again, e.g. with other --epochs, to resume)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--k", type=int, default=2, help="transforms per training step")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--cutoff", type=float, default=5.0)
    p.add_argument("--ema", type=float, default=0.995)
    p.add_argument("--species-list", default=None, help="elements the model knows (default Cu,Zr)")
    p.add_argument("--node-features", default="species", choices=["species", "soap"],
                   help="per-atom inputs: the species (the paper) or species + SOAP (needs dscribe)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--description", default=None)
    p.add_argument("--protocol", default=None)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("import-symgnn", help="convert published SymGNN pickles to extxyz with 'barrier'")
    p.add_argument("input", nargs="+")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_import_symgnn)

    _register_plugins(sub)
    return ap


def _register_plugins(sub) -> None:
    """Sub-commands that live beside their code (artn-labels, explain, ...)."""
    import importlib

    for mod in ("mgbarrier.artn", "mgbarrier.explain", "mgbarrier.glass"):
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        if hasattr(m, "register_cli"):
            m.register_cli(sub)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our warnings as one line on stderr; others in Python's format."""
    if issubclass(category, MgBarrierWarning):
        print(f"mgbarrier: warning: {message}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line), end="", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(args.func(args) or 0)
    except MgBarrierError as exc:
        print(f"mgbarrier: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mgbarrier: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
