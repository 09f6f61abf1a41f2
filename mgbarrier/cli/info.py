"""``mgbarrier info``: the model card."""
from __future__ import annotations

from ..models.registry import SHIPPED, load_model


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a model (default: the shipped one)")
    p.add_argument("--model", default=None, help="model file or shipped name (default: the shipped default)")
    p.set_defaults(func=run)


def run(args) -> int:
    model = load_model(args.model)
    print(model.describe())
    if args.model is None:
        print("shipped models: " + ", ".join(SHIPPED))
    return 0
