"""Moved: the ``mgbarrier glass-*`` commands are :mod:`mgbarrier.cli.glass` (alias kept for one release)."""
from __future__ import annotations

from ..cli.glass import *  # noqa: F401,F403
from ..cli.glass import register as register_cli  # noqa: F401
