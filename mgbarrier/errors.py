"""User-facing errors: the CLI prints ``str(err)`` as one line and exits non-zero."""


class MgBarrierError(Exception):
    """A problem with the user's input (file, species, model), not a bug.

    The message should name the file and the problem in one line.
    """


class MgBarrierWarning(UserWarning):
    """A prediction that ran but should not be trusted (e.g. a structure unlike the training
    glasses); the CLI prints it as one ``mgbarrier: warning: ...`` line."""
