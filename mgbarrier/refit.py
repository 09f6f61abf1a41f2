"""Moved: import from
mgbarrier.training.refit.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .training.refit import *  # noqa: F401,F403
