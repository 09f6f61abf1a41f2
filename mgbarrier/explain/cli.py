"""Moved: ``mgbarrier explain`` is :mod:`mgbarrier.cli.explain` (alias kept for one release)."""
from __future__ import annotations

from ..cli.explain import *  # noqa: F401,F403
from ..cli.explain import register as register_cli  # noqa: F401
