"""``mgbarrier train``: a SymGNN from labelled structures or ARTn run folders (resumable)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import MgBarrierError
from ..io.artn import labelled_structure_from_run
from ..io.files import file_sha256
from ..io.species import parse_species_map
from ..io.structures import iread_structures
from ..nn.symgnn import SymGNNConfig
from ..training.run_state import TrainingInterrupted
from ..training.symgnn import TrainSettings, make_labelled_graph, train
from .common import element_list_spec, output_path, positive_float, positive_int, species_spec, unit_interval


def register(sub) -> None:
    p = sub.add_parser("train", help="train a SymGNN model from labelled structures")
    p.add_argument("--train", nargs="+",
                   help="labelled structures: extxyz with per-atom 'barrier' (eV) or SymGNN pickles")
    p.add_argument("--val", nargs="+", help="validation structures (model selection)")
    p.add_argument("--runs", nargs="+", help="run directories: a LAMMPS data file + ARTn log.event* files")
    p.add_argument("--val-runs", nargs="+", help="validation run directories")
    p.add_argument("--species", type=species_spec, default=None,
                   help="LAMMPS type -> element for --runs, e.g. 1=Cu,2=Zr")
    p.add_argument("-o", "--output", required=True, help="model file to write (.pt)")
    p.add_argument("--run-dir", default=None, help="resumable training state (default: OUTPUT.run/)")
    p.add_argument("--allow-other-data", action="store_true",
                   help="resume a run even though --train/--val/--runs name other files than it started with")
    p.add_argument("--epochs", type=positive_int, default=200, help="length of the schedule (cosine decay to its end)")
    p.add_argument("--stop-after", type=positive_int, default=None,
                   help="end this run after that epoch, keeping the state (run again, e.g. with other "
                        "--epochs, to resume)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="peak learning rate")
    p.add_argument("--k", type=positive_int, default=2, help="transforms per training step")
    p.add_argument("--hidden", type=positive_int, default=64, help="width of the atom states")
    p.add_argument("--dropout", type=unit_interval, default=0.0, help="dropout probability")
    p.add_argument("--cutoff", type=positive_float, default=5.0, help="neighbour cutoff, Å")
    p.add_argument("--ema", type=unit_interval, default=0.995, help="decay of the weight average that is validated")
    p.add_argument("--species-list", type=element_list_spec, default=None,
                   help="elements the model knows (default Cu,Zr)")
    p.add_argument("--arch", default="symgnn", choices=["symgnn", "equivariant"],
                   help="network: the paper's SymGNN, or the angle-aware equivariant network (needs e3nn; "
                        "--k, --dropout and --node-features do not apply to it)")
    p.add_argument("--device", default="cpu", help="torch device of the training, e.g. cuda")
    p.add_argument("--node-features", default="species", choices=["species", "soap"],
                   help="per-atom inputs: the species (the paper) or species + SOAP (needs dscribe)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, transforms and order")
    p.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--description", default=None, help="one line for the model card")
    p.add_argument("--protocol", default=None, help="how data were split and the model selected (model card)")
    p.set_defaults(func=run)


def run(args) -> int:
    inputs = [*(args.train or []), *(args.val or [])]
    out = output_path(args.output, inputs)
    if out.suffix.lower() in (".xyz", ".extxyz", ".lammpstrj", ".dump", ".data", ".pickle", ".gz"):
        raise MgBarrierError(f"{out}: a model file is written here; give a .pt name")
    cfg = SymGNNConfig(cutoff=args.cutoff, k_train=args.k, hidden=args.hidden, dropout=args.dropout,
                       species=args.species_list or ["Cu", "Zr"],
                       node_features=args.node_features)
    if args.arch == "equivariant":
        from ..nn.equivariant import EquivariantConfig

        if args.node_features != "species":
            raise MgBarrierError("--arch equivariant takes the species only (no --node-features soap)")
        cfg = EquivariantConfig(cutoff=args.cutoff, scalars=args.hidden, species=cfg.species)
    elif cfg.node_features == "soap":
        from ..graphs.inputs import soap_dimension

        cfg.node_feature_dim = soap_dimension(cfg.species, cfg.soap)
    settings = TrainSettings(epochs=args.epochs, lr=args.lr, seed=args.seed, threads=args.threads,
                             warmup_epochs=min(5, max(1, args.epochs // 10)), ema_decay=args.ema,
                             stop_after=args.stop_after, device=args.device,
                             allow_other_data=args.allow_other_data)
    data_info = []

    def load(paths, role):
        graphs = []
        for p in paths:
            for k, atoms in enumerate(iread_structures(p)):
                name = Path(p).name if k == 0 else f"{Path(p).name}[{k}]"
                graphs.append(make_labelled_graph(atoms, cfg, name))
            data_info.append({"file": str(p), "role": role, "sha256": file_sha256(p)})
        return graphs

    train_set = load(args.train or [], "train")
    val_set = load(args.val or [], "validation")
    species_map = parse_species_map(args.species)
    for role, dirs, dest in (("train", args.runs or [], train_set), ("validation", args.val_runs or [], val_set)):
        for d in dirs:
            atoms, info = labelled_structure_from_run(d, species_map=species_map)
            dest.append(make_labelled_graph(atoms, cfg, Path(d).name))
            data_info.append({"run": str(d), "role": role, **info})
    if not train_set:
        raise MgBarrierError("no training data: give --train FILE... or --runs DIR...")
    meta = {"description": args.description or f"{'SymGNN' if args.arch == 'symgnn' else 'equivariant'} "
                                               "energy-barrier model",
            "training": {"data": data_info, "command": "mgbarrier " + " ".join(sys.argv[1:]),
                         "protocol": args.protocol or "trained on --train, best epoch chosen on --val"}}
    try:
        summary = train(train_set, val_set, cfg, settings, out, Path(args.run_dir) if args.run_dir else None,
                        metadata=meta)
    except TrainingInterrupted as exc:
        print(f"mgbarrier: interrupted; run the same command again to resume ({exc})", file=sys.stderr)
        return 130
    if not Path(out).exists():
        raise MgBarrierError(f"{out}: no model was written (no epoch finished)")
    print(f"wrote {out}: best validation Pearson {summary['best']['pearson']:.4f} at epoch "
          f"{summary['best']['epoch']} ({summary['wall_time_s']:.0f} s)")
    return 0
