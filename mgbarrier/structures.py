"""Moved: import from
mgbarrier.io.structures,
mgbarrier.io.formats,
mgbarrier.io.lammps_data,
mgbarrier.io.files,
mgbarrier.graphs.checks.

Kept as a thin alias for one release; nothing imports it inside the package.
"""
from __future__ import annotations

from .graphs.checks import *  # noqa: F401,F403
from .io.files import *  # noqa: F401,F403
from .io.formats import *  # noqa: F401,F403
from .io.lammps_data import *  # noqa: F401,F403
from .io.structures import *  # noqa: F401,F403
