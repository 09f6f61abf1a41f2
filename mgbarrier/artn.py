"""Moved: import from
mgbarrier.io.artn.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .io.artn import *  # noqa: F401,F403
