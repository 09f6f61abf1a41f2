"""Moved: import from
mgbarrier.nn.networks.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .nn.networks import *  # noqa: F401,F403
