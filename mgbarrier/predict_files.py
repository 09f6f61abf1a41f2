"""Moved: import from
mgbarrier.pipeline,
mgbarrier.io.lammps_data,
mgbarrier.io.formats.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .io.formats import *  # noqa: F401,F403
from .io.lammps_data import *  # noqa: F401,F403
from .pipeline import *  # noqa: F401,F403
