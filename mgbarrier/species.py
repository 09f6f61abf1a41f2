"""Moved: import from
mgbarrier.io.species.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .io.species import *  # noqa: F401,F403
