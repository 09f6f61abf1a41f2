"""Training and scoring the D-MPNN classifier (the seed's §II D 2 and §II E).

* cross-entropy (logistic) loss on the glass probability, Adam;
* the seed's schedule: the learning rate rises linearly from ``lr_start`` (1e-4) to
  ``lr_max`` (1e-3) over the first ``warmup_epochs`` (2) epochs, then decays exponentially
  to ``lr_end`` (1e-4) at the last epoch (updated every step);
* every epoch each training configuration is seen ``windows_per_config`` times, each time
  through a fresh random window (the augmentation);
* validation after every epoch on fixed windows (same seed every epoch): ROC AUC and
  accuracy at 0.5; the model file always holds the epoch with the best validation AUC.

Resumable and Ctrl-C safe: ``RUN_DIR/state.pt`` (weights, optimiser, RNG states, history)
is written atomically after every epoch; running the same command again resumes; Ctrl-C
finishes the current step, saves and raises :class:`TrainingInterrupted`.  Model files are
:mod:`mgbarrier.checkpoint` files of kind ``"glass-dmpnn"``.
"""
from __future__ import annotations

import copy
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..errors import MgBarrierError
from ..interrupt import GracefulInterrupt
from ..models.checkpoint import load_checkpoint, save_checkpoint
from ..nn.layers import count_parameters
from ..training.run_state import (  # noqa: F401
    STATE_FILE,
    TrainingInterrupted,
    load_state,
    make_run_dir,
    numpy_rng_state,
    restore_numpy_rng,
    run_dir_for,
    save_state,
)
from .datasets import Config
from .dmpnn import DMPNN, DMPNNConfig
from .windows import batch_from_configs

KIND = "glass-dmpnn"


@dataclass
class ClassifierSettings:
    """epochs; batch_size (configurations per step; the seed: 5); lr_*: schedule (see module
    doc); windows_per_config: random windows per configuration per epoch; val_windows:
    windows averaged per validation configuration; seed: weights, windows and order."""

    epochs: int = 10
    batch_size: int = 8
    lr_start: float = 1e-4
    lr_max: float = 1e-3
    lr_end: float = 1e-4
    warmup_epochs: float = 2.0
    windows_per_config: int = 1
    val_windows: int = 1
    weight_decay: float = 0.0
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierSettings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})




#: the name of earlier releases
TrainSettings = ClassifierSettings


def lr_at(epoch_float: float, s: ClassifierSettings) -> float:
    """Learning rate at fractional epoch ``epoch_float`` (linear warm-up, exponential decay)."""
    w = max(float(s.warmup_epochs), 0.0)
    if w > 0 and epoch_float < w:
        return s.lr_start + (s.lr_max - s.lr_start) * epoch_float / w
    rest = max(s.epochs - w, 1e-9)
    frac = min(max((epoch_float - w) / rest, 0.0), 1.0)
    return s.lr_max * (s.lr_end / s.lr_max) ** frac


# ----------------------------------------------------------------------------- scores
def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted 1/2); NaN with one class only."""
    from scipy.stats import rankdata

    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def accuracy(labels: Sequence[int], probs: Sequence[float], threshold: float = 0.5) -> float:
    y = np.asarray(labels).astype(int)
    return float(np.mean((np.asarray(probs) > threshold).astype(int) == y)) if len(y) else float("nan")


@torch.no_grad()
def predict_proba(net: DMPNN, configs: Sequence[Config], n_windows: int = 1, seed: int = 12345,
                  batch_size: int = 32, window: Union[float, None, str] = "model") -> np.ndarray:
    """(C,) glass probability of each configuration, averaged over ``n_windows`` windows.

    Windows are drawn from ``np.random.default_rng(seed)`` (the same every call);
    ``window="model"`` uses the model's window, None the whole periodic configuration.
    """
    cfg = net.cfg
    w = cfg.window if window == "model" else window
    rng = np.random.default_rng(seed)
    was = net.training
    net.eval()
    out = np.zeros(len(configs))
    reps = 1 if w is None else max(int(n_windows), 1)
    for rep in range(reps):
        for a in range(0, len(configs), batch_size):
            chunk = configs[a:a + batch_size]
            b = batch_from_configs(chunk, cfg.k, w, rng)
            out[a:a + len(chunk)] += torch.sigmoid(net(b)).double().numpy()
    net.train(was)
    return out / reps


def score(net: DMPNN, configs: Sequence[Config], **kw) -> Dict[str, float]:
    """``{"auc", "accuracy", "n"}`` of ``net`` on labelled ``configs`` (keywords: :func:`predict_proba`)."""
    p = predict_proba(net, configs, **kw)
    y = [c.label for c in configs]
    return {"auc": roc_auc(y, p), "accuracy": accuracy(y, p), "n": len(configs)}


# ----------------------------------------------------------------------------- model files
def save_classifier(path: Union[str, Path], net: DMPNN, state_dict: Optional[dict] = None,
                    metadata: Optional[dict] = None) -> None:
    save_checkpoint(path, {"kind": KIND, "config": net.cfg.to_dict(),
                           "state_dict": state_dict if state_dict is not None else net.state_dict(),
                           "metadata": metadata or {}})


def load_classifier(path: Union[str, Path]) -> Tuple[DMPNN, dict]:
    """``(net in eval mode, metadata)`` from a glass classifier file."""
    ck = load_checkpoint(path)
    if ck.get("kind") != KIND:
        raise MgBarrierError(f"{path}: not a glass classifier (model kind {ck.get('kind')!r}, expected {KIND!r})")
    net = DMPNN(DMPNNConfig.from_dict(ck["config"]))
    try:
        net.load_state_dict(ck["state_dict"])
    except RuntimeError as exc:
        raise MgBarrierError(f"{path}: weights do not fit the recorded architecture ({str(exc)[:120]})") from None
    net.eval()
    return net, dict(ck.get("metadata") or {})


# ----------------------------------------------------------------------------- training
def train_classifier(train_set: Sequence[Config], val_set: Sequence[Config], cfg: DMPNNConfig,
                     settings: ClassifierSettings, output: Union[str, Path], run_dir: Union[str, Path, None] = None,
                     metadata: Optional[dict] = None, log: Callable[[str], None] = None,
                     threads: Optional[int] = None) -> dict:
    """Train on ``train_set``, select the epoch on ``val_set`` AUC, write ``output``.

    Returns ``{"best": {"epoch", "auc", "accuracy"}, "history": [...], "wall_s", "output"}``.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if not train_set:
        raise MgBarrierError("no training configurations")
    labels = {c.label for c in train_set}
    if labels != {0, 1}:
        raise MgBarrierError(f"training set needs both glass (1) and liquid (0) configurations, has {sorted(labels)}")
    if threads:
        torch.set_num_threads(int(threads))
    output = Path(output)
    run_dir = make_run_dir(run_dir_for(output, run_dir, log))
    state_path = run_dir / STATE_FILE
    torch.manual_seed(settings.seed)
    net = DMPNN(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr_start, weight_decay=settings.weight_decay)
    rng = np.random.default_rng(settings.seed)
    start_epoch, history, best, best_state, wall_before = 0, [], {"auc": -1.0, "epoch": 0}, None, 0.0
    if state_path.exists():
        st = load_state(state_path)
        if st.get("config") != cfg.to_dict() or st.get("settings", {}).get("epochs") is None:
            raise MgBarrierError(f"{state_path}: was made with another architecture; delete {run_dir} "
                                 "or choose another --run-dir")
        net.load_state_dict(st["net"])
        opt.load_state_dict(st["opt"])
        torch.set_rng_state(st["torch_rng"])
        rng = restore_numpy_rng(st["np_rng"])
        start_epoch, history, best, best_state, wall_before = (st["epoch"], st["history"], st["best"],
                                                               st["best_state"], st["wall"])
        log(f"resuming from {state_path} at epoch {start_epoch}/{settings.epochs}")
    if val_set and len({c.label for c in val_set}) < 2:
        log(f"validation set has only one class ({len(val_set)} configurations): no AUC; the last epoch is kept")
        val_set = []
    meta = dict(metadata or {})
    n_train = len(train_set)
    per_epoch = n_train * max(int(settings.windows_per_config), 1)
    steps_per_epoch = math.ceil(per_epoch / settings.batch_size)
    log(f"training D-MPNN ({count_parameters(net, trainable_only=True)} parameters; k {cfg.k}, "
        f"hidden {cfg.hidden}, T {cfg.steps}, "
        f"window {cfg.window}) on {n_train} configurations ({sum(c.label for c in train_set)} glass), "
        f"validating on {len(val_set)}; {steps_per_epoch} steps/epoch, {torch.get_num_threads()} threads")
    loss_fn = torch.nn.BCEWithLogitsLoss()
    t_start = time.time()
    net.train()

    def write_model():
        meta_out = dict(meta, best=best, history=history, settings=settings.to_dict(),
                        wall_s=wall_before + time.time() - t_start, torch=str(torch.__version__),
                        python=platform.python_version())
        save_classifier(output, net, best_state, meta_out)

    with GracefulInterrupt(log) as stop:
        for epoch in range(start_epoch, settings.epochs):
            t0 = time.time()
            order = rng.permutation(per_epoch) % n_train
            losses, correct, seen = [], 0, 0
            t_report = time.time()
            for s in range(steps_per_epoch):
                idx = order[s * settings.batch_size:(s + 1) * settings.batch_size]
                chunk = [train_set[i] for i in idx]
                b = batch_from_configs(chunk, cfg.k, cfg.window, rng)
                y = torch.tensor([c.label for c in chunk], dtype=torch.float32)
                for grp in opt.param_groups:
                    grp["lr"] = lr_at(epoch + s / steps_per_epoch, settings)
                logit = net(b)
                loss = loss_fn(logit, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                correct += int(((logit.detach() > 0).float() == y).sum())
                seen += len(chunk)
                if time.time() - t_report > 60:
                    log(f"  epoch {epoch + 1} step {s + 1}/{steps_per_epoch} loss {np.mean(losses):.4f}")
                    t_report = time.time()
                if stop.flag:
                    break
            if stop.flag:
                log(f"stopped during epoch {epoch + 1}; state kept at epoch {epoch} in {state_path}")
                raise TrainingInterrupted(str(state_path))
            val = score(net, val_set, n_windows=settings.val_windows) if val_set else {"auc": float("nan"),
                                                                                        "accuracy": float("nan")}
            net.train()
            rec = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "train_accuracy": correct / max(seen, 1),
                   "val_auc": val["auc"], "val_accuracy": val["accuracy"], "lr": opt.param_groups[0]["lr"],
                   "seconds": time.time() - t0}
            history.append(rec)
            key = (val["auc"], val["accuracy"], -rec["loss"])  # ties of AUC (often 1.0) broken by accuracy
            improved = (not val_set) or best_state is None or (
                np.isfinite(val["auc"]) and key > (best["auc"], best.get("accuracy", -1.0), -best.get("loss", 1e9)))
            if improved:
                best = {"epoch": epoch + 1, "auc": float(val["auc"]), "accuracy": float(val["accuracy"]),
                        "loss": rec["loss"]}
                best_state = copy.deepcopy(net.state_dict())
            log(f"epoch {epoch + 1:3d}/{settings.epochs}  loss {rec['loss']:.4f}  train acc "
                f"{rec['train_accuracy']:.3f}  val AUC {val['auc']:.4f} acc {val['accuracy']:.3f}  "
                f"best {best['auc']:.4f}@{best['epoch']}  lr {rec['lr']:.2e}  {rec['seconds']:.1f} s")
            wall = wall_before + time.time() - t_start
            save_state(state_path, {"net": net.state_dict(), "opt": opt.state_dict(),
                                     "torch_rng": torch.get_rng_state(),
                                     "np_rng": numpy_rng_state(rng), "config": cfg.to_dict(),
                                     "settings": settings.to_dict(), "epoch": epoch + 1, "history": history,
                                     "best": best, "best_state": best_state, "wall": wall})
            if improved or epoch + 1 == settings.epochs:
                write_model()
    if best_state is None:  # resumed a finished run
        raise MgBarrierError(f"{state_path}: no trained state to write")
    write_model()
    return {"best": best, "history": history, "wall_s": wall_before + time.time() - t_start, "output": str(output)}
