"""Moved: import from
mgbarrier.models.card.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .models.card import *  # noqa: F401,F403
