"""Moved: import from
mgbarrier.graphs.inputs.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .graphs.inputs import *  # noqa: F401,F403
