"""Moved: import from
mgbarrier.io.symgnn_pickle,
mgbarrier.io.files.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .io.files import *  # noqa: F401,F403
from .io.symgnn_pickle import *  # noqa: F401,F403
