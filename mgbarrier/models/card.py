"""Human-readable model card for ``mgbarrier info``."""
from __future__ import annotations

import json


def format_card(model) -> str:
    md = model.metadata
    lines = [
        f"model file : {model.path}",
        f"kind       : {model.kind}",
        f"species    : {', '.join(model.species)}",
        f"cutoff     : {model.cutoff} Å",
    ]
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "to_dict"):
        lines.append(f"config     : {json.dumps(cfg.to_dict(), sort_keys=True)}")
    for key in ("mgbarrier_version", "created", "description"):
        if key in md:
            lines.append(f"{key:<11}: {md[key]}")
    tr = md.get("training", {})
    for key in ("data", "protocol", "command", "hardware", "wall_time_s", "epochs", "best_epoch"):
        if key in tr:
            lines.append(f"{key:<11}: {tr[key]}")
    metrics = md.get("metrics", {})
    if metrics:
        lines.append("metrics    : " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                               for k, v in sorted(metrics.items())))
    return "\n".join(lines)
