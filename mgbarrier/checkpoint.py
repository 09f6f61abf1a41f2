"""Moved: import from
mgbarrier.models.checkpoint.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .models.checkpoint import *  # noqa: F401,F403
