"""Which network a configuration builds, and which checkpoint ``kind`` it is saved as.

``"symgnn"`` -> :class:`mgbarrier.nn.symgnn.SymGNN` (:class:`~mgbarrier.nn.symgnn.SymGNNConfig`),
``"baseline"`` -> the paper-table baselines of :mod:`mgbarrier.nn.baselines`,
``"equivariant"`` -> :class:`mgbarrier.nn.equivariant.EquivariantNet` (needs e3nn).
"""
from __future__ import annotations

from typing import Union

from torch import nn

from .baselines import BaselineConfig, build_baseline
from .equivariant import EquivariantConfig, EquivariantNet
from .symgnn import SymGNN, SymGNNConfig

NetworkConfig = Union[SymGNNConfig, BaselineConfig, EquivariantConfig]


def network_kind(cfg: NetworkConfig) -> str:
    if isinstance(cfg, EquivariantConfig):
        return "equivariant"
    return "symgnn" if isinstance(cfg, SymGNNConfig) else "baseline"


def config_from_dict(kind: str, d: dict) -> NetworkConfig:
    if kind == "equivariant":
        return EquivariantConfig.from_dict(d)
    return SymGNNConfig.from_dict(d) if kind == "symgnn" else BaselineConfig.from_dict(d)


def build_network(cfg: NetworkConfig) -> nn.Module:
    if isinstance(cfg, EquivariantConfig):
        return EquivariantNet(cfg)
    return SymGNN(cfg) if isinstance(cfg, SymGNNConfig) else build_baseline(cfg)
