"""Moved: import from
mgbarrier.models.ensemble,
mgbarrier.training.ensemble.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .models.ensemble import *  # noqa: F401,F403
from .training.ensemble import *  # noqa: F401,F403
