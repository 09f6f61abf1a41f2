"""Moved: import from
mgbarrier.models.descriptor,
mgbarrier.graphs.soap,
mgbarrier.training.descriptor.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .graphs.soap import *  # noqa: F401,F403
from .models.descriptor import *  # noqa: F401,F403
from .training.descriptor import *  # noqa: F401,F403
