"""Training SymGNN from labelled structures (per-atom ``barrier`` in eV, NaN = unlabelled).

One optimiser step per structure, AMSGrad with linear warm-up and cosine decay, MSE on
standardised labels masked to labelled atoms, an exponential moving average (EMA) of the
weights that is what gets validated and saved.  The run directory holds ``state.pt``,
written atomically after every epoch: running the same command again resumes.  Ctrl-C
finishes the current step, saves, and exits; the output checkpoint always holds the
model with the best validation Pearson so far.
"""
from __future__ import annotations

import copy
import math
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from ase import Atoms

from .. import __version__
from ..errors import MgBarrierError
from ..graphs.graph import Graph
from ..graphs.inputs import model_graph
from ..interrupt import GracefulInterrupt
from ..metrics import pearson
from ..models.checkpoint import save_checkpoint
from ..nn.layers import count_parameters
from ..nn.networks import NetworkConfig, build_network, network_kind
from .run_state import (
    STATE_FILE,
    TrainingInterrupted,
    ema_update,
    load_state,
    make_run_dir,
    numpy_rng_state,
    restore_numpy_rng,
    run_dir_for,
    save_state,
)


@dataclass
class TrainSettings:
    epochs: int = 200
    lr: float = 1e-3
    min_lr_ratio: float = 0.02
    warmup_epochs: int = 5
    weight_decay: float = 0.0
    ema_decay: float = 0.995
    # weight of the per-structure mean error in the loss: 0 for ``mean_free_epochs``, then
    # ramped linearly to ``mean_weight`` over ``mean_ramp_epochs`` (see ``structure_loss``);
    # 1 would be plain MSE, which trains badly here (the mean error flips sign between steps)
    mean_free_epochs: int = 10
    mean_ramp_epochs: int = 20
    mean_weight: float = 0.1
    grad_clip: float = 5.0
    seed: int = 0
    threads: Optional[int] = None
    stop_after: Optional[int] = None  # end this call after that epoch (state kept: a later call resumes)
    # end this call (state kept) once another epoch would likely end past this many seconds
    max_seconds: Optional[float] = None
    device: str = "cpu"  # torch device of the network and the graphs ("cuda" for a GPU)
    # resume even when the state was written for other training/validation files (sha256)
    allow_other_data: bool = False
    extra: dict = field(default_factory=dict)


@dataclass
class LabelledGraph:
    name: str
    graph: Graph
    labels: torch.Tensor  # (N,) eV, NaN = unlabelled

    @property
    def n_labelled(self) -> int:
        return int(torch.isfinite(self.labels).sum())


def make_labelled_graph(atoms: Atoms, cfg: NetworkConfig, name: str) -> LabelledGraph:
    if "barrier" not in atoms.arrays:
        raise MgBarrierError(f"{name}: no per-atom 'barrier' labels")
    y = torch.as_tensor(np.asarray(atoms.arrays["barrier"], dtype=np.float32))
    lg = LabelledGraph(name, model_graph(atoms, cfg, name), y)
    if lg.n_labelled == 0:
        raise MgBarrierError(f"{name}: no finite barrier labels")
    return lg


def _lr_factor(epoch_float: float, s: TrainSettings) -> float:
    if epoch_float < s.warmup_epochs:
        return max(epoch_float / max(s.warmup_epochs, 1e-9), 0.02)
    t = (epoch_float - s.warmup_epochs) / max(s.epochs - s.warmup_epochs, 1)
    t = min(max(t, 0.0), 1.0)
    return s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def structure_loss(pred: torch.Tensor, target: torch.Tensor, mean_weight: float) -> torch.Tensor:
    """MSE of one structure split into its within-structure and mean parts.

    MSE = mean(((p - p̄) - (t - t̄))²) + (p̄ - t̄)²; the second term is weighted by
    ``mean_weight`` (1 gives plain MSE).  The structures' mean barriers differ by up to
    1.7 label standard deviations (cooling rate), and with one structure per step the
    mean error flips sign from step to step: early on it dominates Adam's normalisation
    and training sits at the species-only solution.  Learning the within-structure
    variation first, then phasing the means in, avoids that.
    """
    dp, dt = pred - pred.mean(), target - target.mean()
    return ((dp - dt) ** 2).mean() + mean_weight * (pred.mean() - target.mean()) ** 2


def _mean_weight(epoch_float: float, s: TrainSettings) -> float:
    if s.mean_ramp_epochs <= 0:
        return 0.0 if epoch_float < s.mean_free_epochs else s.mean_weight
    return s.mean_weight * min(max((epoch_float - s.mean_free_epochs) / s.mean_ramp_epochs, 0.0), 1.0)


def evaluate(net: torch.nn.Module, graphs: Sequence[LabelledGraph], mean: float, std: float) -> dict:
    """Pearson per graph and pooled (eV predictions vs labels), in eval mode."""
    was = net.training
    net.eval()
    preds, trues, out = [], [], {}
    with torch.no_grad():
        for lg in graphs:
            p = net(lg.graph).double().cpu().numpy() * std + mean
            preds.append(p)
            trues.append(lg.labels.double().cpu().numpy())
            out[f"pearson/{lg.name}"] = pearson(p, trues[-1])
    out["pearson"] = pearson(np.concatenate(preds), np.concatenate(trues)) if graphs else float("nan")
    net.train(was)
    return out


def train(train_set: Sequence[LabelledGraph], val_set: Sequence[LabelledGraph], cfg: NetworkConfig,
          settings: TrainSettings, output: Path, run_dir: Optional[Path] = None,
          metadata: Optional[dict] = None, log: Callable[[str], None] = print) -> dict:
    """Train, validate every epoch, keep the best (EMA) model in ``output``; resumable via ``run_dir``.

    Returns the final summary dict (best epoch, validation metrics, wall time).
    """
    if not train_set:
        raise MgBarrierError("no training structures")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    output = Path(output)
    labels = torch.cat([lg.labels[torch.isfinite(lg.labels)] for lg in train_set]).double()
    mean, std = float(labels.mean()), float(labels.std())
    if not std > 0:
        more = f" and {len(train_set) - 1} more" if len(train_set) > 1 else ""
        raise MgBarrierError(f"{train_set[0].name}{more}: the training labels have zero variance "
                             f"(all {mean:g} eV): nothing to learn")
    run_dir = make_run_dir(run_dir_for(output, run_dir, log))
    state_path = run_dir / STATE_FILE

    device = torch.device(settings.device)
    if device.type != "cpu":  # graphs and labels live on the device for the whole run
        train_set = [LabelledGraph(lg.name, lg.graph.to(device), lg.labels.to(device)) for lg in train_set]
        val_set = [LabelledGraph(lg.name, lg.graph.to(device), lg.labels.to(device)) for lg in val_set]
    torch.manual_seed(settings.seed)
    net = build_network(cfg).to(device)
    if hasattr(net, "calibrate"):
        net.calibrate(train_set[0].graph)  # fixed message standardisation (restored from state on resume)
    net._generator = torch.Generator().manual_seed(settings.seed + 1)
    ema = copy.deepcopy(net)
    ema._generator = None
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr, amsgrad=True, weight_decay=settings.weight_decay)
    rng = np.random.default_rng(settings.seed)
    start_epoch, best, history, wall_before = 0, {"pearson": -float("inf"), "epoch": -1}, [], 0.0
    best_state = None

    if state_path.exists():
        st = load_state(state_path)
        # fields added to the configuration since the state was written take their defaults
        if type(cfg).from_dict(st["config"]).to_dict() != cfg.to_dict():
            raise MgBarrierError(f"{state_path}: run directory holds a different model configuration; "
                                 "use another --run-dir or delete it")
        net.load_state_dict(st["net"])
        ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["opt"])
        net._generator.set_state(st["gen"])
        torch.set_rng_state(st["torch_rng"])
        rng = restore_numpy_rng(st["np_rng"])
        start_epoch, best, history, wall_before = st["epoch"], st["best"], st["history"], st["wall"]
        best_state = st.get("best_state")
        mean, std = st["mean"], st["std"]
        _check_same_data(state_path, st.get("data"), _data_of(metadata), settings.allow_other_data, log)
        log(f"resuming from {state_path} at epoch {start_epoch}/{settings.epochs}")

    meta = dict(metadata or {})
    log(f"training {type(net).__name__} ({count_parameters(net)} parameters) on {len(train_set)} structures "
        f"({sum(lg.n_labelled for lg in train_set)} labelled atoms), validating on "
        f"{', '.join(lg.name for lg in val_set) or 'nothing'}; "
        + (f"{torch.get_num_threads()} threads" if device.type == "cpu" else f"device {device}"))
    t_start = time.time()
    last = min(settings.epochs, settings.stop_after) if settings.stop_after else settings.epochs
    steps_per_epoch = len(train_set)
    net.train()
    timed_out = False
    with GracefulInterrupt() as stop:
        for epoch in range(start_epoch, last):
            t0 = time.time()
            if settings.max_seconds and len(history) > start_epoch \
                    and (t0 - t_start) + history[-1]["seconds"] > settings.max_seconds:
                timed_out = True
                last = epoch
                break
            losses = []
            for s, gi in enumerate(rng.permutation(len(train_set))):
                lg = train_set[gi]
                for grp in opt.param_groups:
                    grp["lr"] = settings.lr * _lr_factor(epoch + s / steps_per_epoch, settings)
                mask = torch.isfinite(lg.labels)
                target = (lg.labels - mean) / std
                out = net(lg.graph)
                loss = structure_loss(out[mask], target[mask], _mean_weight(epoch + s / steps_per_epoch, settings))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if settings.grad_clip:
                    torch.nn.utils.clip_grad_norm_(net.parameters(), settings.grad_clip)
                opt.step()
                ema_update(ema, net, settings.ema_decay, epoch * steps_per_epoch + s)
                losses.append(float(loss.detach()))
                if stop.flag:
                    break
            if stop.flag:
                log(f"stopped during epoch {epoch + 1}; state kept at epoch {epoch} in {state_path}")
                _write_model(output, cfg, best_state, mean, std, meta, best, history, settings,
                             wall_before + (time.time() - t_start))
                raise TrainingInterrupted(str(state_path))
            metrics = evaluate(ema, val_set, mean, std) if val_set else {"pearson": float("nan")}
            dt = time.time() - t0
            rec = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_pearson": metrics["pearson"],
                   "seconds": dt, "lr": opt.param_groups[0]["lr"]}
            history.append(rec)
            improved = val_set and metrics["pearson"] > best["pearson"]
            if improved or not val_set:
                best = {"pearson": metrics["pearson"], "epoch": epoch + 1, **metrics}
                best_state = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
            log(f"epoch {epoch + 1:4d}/{settings.epochs}  loss {rec['loss']:.4f}  val pearson "
                f"{metrics['pearson']:.4f}  best {best['pearson']:.4f}@{best['epoch']}  "
                f"lr {rec['lr']:.2e}  {dt:.1f} s")
            wall = wall_before + (time.time() - t_start)
            _save_state(state_path, net, ema, opt, cfg, epoch + 1, best, history, wall, mean, std, best_state, rng,
                        _data_of(metadata))
            if improved or epoch + 1 == settings.epochs or not val_set:
                _write_model(output, cfg, best_state, mean, std, meta, best, history, settings, wall)
    wall = wall_before + (time.time() - t_start)
    if last < settings.epochs:
        why = f"{settings.max_seconds:.0f} s time limit" if timed_out else "--stop-after"
        log(f"stopped after epoch {last} as asked ({why}); run again to resume")
    _write_model(output, cfg, best_state, mean, std, meta, best, history, settings, wall)
    return {"best": best, "wall_time_s": wall, "epochs": len(history), "output": str(output)}


def _data_of(metadata: Optional[dict]) -> list:
    """The training data a run uses: ``metadata["training"]["data"]`` (role, file or run, sha256)."""
    return list(((metadata or {}).get("training") or {}).get("data") or [])


def _data_key(data: list) -> list:
    return sorted((str(d.get("role")), str(d.get("sha256", d.get("run", d.get("file"))))) for d in data)


def _check_same_data(state_path: Path, before: Optional[list], now: list, allow: bool, log) -> None:
    """Refuse to resume a run with other training/validation data (by sha256) unless ``allow``."""
    if before is None or not now or _data_key(before) == _data_key(now):
        return
    names = lambda data: ", ".join(f"{d.get('role')}:{Path(str(d.get('file') or d.get('run'))).name}" for d in data)
    if not allow:
        raise MgBarrierError(f"{state_path}: this run was trained on other data ({names(before)}; now "
                             f"{names(now)}); resuming would mix them and the model card would name data the "
                             "weights never saw: use the same files, another -o/--run-dir, or --allow-other-data")
    log(f"resuming with other data than the run started with (was: {names(before)}) as asked")


def _save_state(path, net, ema, opt, cfg, epoch, best, history, wall, mean, std, best_state, rng, data=()):
    save_state(path, {"net": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "data": list(data),
                      "gen": net._generator.get_state(), "torch_rng": torch.get_rng_state(),
                      "np_rng": numpy_rng_state(rng), "config": cfg.to_dict(),
                      "epoch": epoch, "best": best, "history": history, "wall": wall, "mean": mean, "std": std,
                      "best_state": best_state})


def _write_model(output, cfg, state, mean, std, meta, best, history, settings, wall):
    if state is None:
        return
    md = copy.deepcopy(meta)
    md.setdefault("mgbarrier_version", __version__)
    md["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tr = md.setdefault("training", {})
    tr.update({"epochs": len(history), "best_epoch": best.get("epoch"), "wall_time_s": round(wall, 1),
               "hardware": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
               "settings": {k: v for k, v in settings.__dict__.items() if k != "extra"},
               "history": history})
    md.setdefault("metrics", {}).update({f"val_{k}": float(v) for k, v in best.items()
                                         if k.startswith("pearson")})
    save_checkpoint(output, {"kind": network_kind(cfg), "config": cfg.to_dict(), "label_mean": mean, "label_std": std,
                             "state_dict": state, "metadata": md})
