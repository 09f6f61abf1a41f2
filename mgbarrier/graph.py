"""Moved: import from
mgbarrier.graphs.graph,
mgbarrier.graphs.neighbours.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .graphs.graph import *  # noqa: F401,F403
from .graphs.neighbours import *  # noqa: F401,F403
