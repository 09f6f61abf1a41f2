"""Moved: import from
mgbarrier.models.registry,
mgbarrier.models.graph_network,
mgbarrier.models.protocol.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .models.graph_network import *  # noqa: F401,F403
from .models.protocol import *  # noqa: F401,F403
from .models.registry import *  # noqa: F401,F403
