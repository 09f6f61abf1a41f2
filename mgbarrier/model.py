"""Moved: import from
mgbarrier.nn.symgnn.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .nn.symgnn import *  # noqa: F401,F403
