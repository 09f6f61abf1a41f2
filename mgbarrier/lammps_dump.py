"""Moved: import from
mgbarrier.io.lammps_dump.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .io.lammps_dump import *  # noqa: F401,F403
