"""Files on disk: the one way outputs are written, output-path checks, and file hashes.

Every output of the package goes through :class:`AtomicOutput` (a stream) or
:func:`atomic_write` (a library call that wants a path):

* a regular file (or a new name) is written to a hidden temporary file in the same folder
  and renamed onto the target only when everything succeeded; on an error, Ctrl-C,
  SIGTERM or SIGHUP the temporary file is removed and the target is left as it was;
* a target that is not a regular file (``/dev/null``, ``/dev/stdout``, a FIFO, or a
  symlink to one) is written through, never replaced by a regular file; a symlink to a
  regular file stays a link, and the file it points to is replaced;
* :func:`check_output_path` refuses an output that is one of the inputs (same inode), a
  directory, or in a folder that does not exist, before any work is done.
"""
from __future__ import annotations

import atexit
import gzip
import hashlib
import io
import os
import shutil
import stat
from pathlib import Path
from typing import Callable, Iterable, Optional, Set, Union

from ..errors import MgBarrierError

PathLike = Union[str, Path]

#: temporary files of unfinished outputs of this process (removed at exit and on signals)
_PENDING: Set[Path] = set()


def _remove_pending() -> None:
    for tmp in list(_PENDING):
        try:
            tmp.unlink()
        except OSError:
            pass
        _PENDING.discard(tmp)


atexit.register(_remove_pending)


def is_special_target(path: PathLike) -> bool:
    """True when ``path`` exists and is not a regular file (device, FIFO, socket; links followed)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _same_inode(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_readable(path: Path) -> None:
    """Refuse a missing, directory or empty input file (one line naming it)."""
    path = Path(path)
    if not path.exists():
        raise MgBarrierError(f"{path}: no such file")
    if path.is_dir():
        raise MgBarrierError(f"{path}: is a directory, expected a structure file")
    if path.stat().st_size == 0:
        raise MgBarrierError(f"{path}: file is empty")


def check_output_path(out: PathLike, inputs: Iterable[PathLike] = ()) -> Path:
    """Refuse an output path before any work: an input (same file), a directory, a missing folder.

    Returns ``Path(out)``.  Raises :class:`MgBarrierError` naming ``out``.
    """
    out = Path(out)
    for inp in inputs:
        inp = Path(inp)
        if _same_inode(inp, out) or (not out.exists() and inp.resolve() == out.resolve()):
            raise MgBarrierError(f"{out}: output would overwrite the input {inp}; choose another -o")
    if out.is_dir():
        raise MgBarrierError(f"{out}: is a directory, expected an output file name")
    if is_special_target(out):
        return out
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise MgBarrierError(f"{out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise MgBarrierError(f"{out}: folder {parent} is not writable")
    return out


def _final_target(path: Path) -> Path:
    """Where the bytes of an output named ``path`` go: the file a symbolic link points to (so
    the link survives, as with a shell redirection), else ``path`` itself."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _write_error(path: Path, exc: OSError) -> MgBarrierError:
    return MgBarrierError(f"{path}: cannot write ({exc.strerror or exc})")


class AtomicOutput:
    """A text stream onto ``path`` that appears whole or not at all (see module doc).

    Gzip-compressed when the name ends in ``.gz``.  Use as a context manager (a clean exit
    commits, an exception aborts) or call :meth:`commit` / :meth:`abort`.
    """

    def __init__(self, path: PathLike, *, compress: Optional[bool] = None):
        self.path = Path(path)
        self.through = is_special_target(self.path)
        self.target = _final_target(self.path)
        self.tmp = None if self.through else _tmp_path(self.target)
        compress = self.path.name.endswith(".gz") if compress is None else compress
        target = self.path if self.through else self.tmp
        try:
            if compress:
                self.fh = io.TextIOWrapper(gzip.open(target, "wb", compresslevel=6), encoding="utf-8")
            else:
                self.fh = open(target, "w", encoding="utf-8")
        except OSError as exc:
            raise _write_error(self.path, exc) from None
        if self.tmp is not None:
            _PENDING.add(self.tmp)

    def write(self, text: str) -> None:
        try:
            self.fh.write(text)
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def commit(self) -> None:
        """Finish the stream and put it in place."""
        if self.fh is None:
            return
        try:
            self.fh.close()
            self.fh = None
            if self.tmp is not None:
                os.replace(self.tmp, self.target)
                _PENDING.discard(self.tmp)
        except OSError as exc:
            self.abort()
            raise _write_error(self.path, exc) from None

    def abort(self) -> None:
        """Drop what was written; the target is left as it was."""
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError:
                pass
            self.fh = None
        if self.tmp is not None:
            try:
                self.tmp.unlink()
            except OSError:
                pass
            _PENDING.discard(self.tmp)

    def __enter__(self) -> "AtomicOutput":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False


def atomic_write(path: PathLike, write_fn: Callable[[Path], None]) -> None:
    """Call ``write_fn(tmp_path)`` then rename onto ``path``: never a half-written file.

    A non-regular target (device, FIFO) gets the finished bytes copied into it instead.
    An ``OSError`` becomes one :class:`MgBarrierError` line naming ``path``.
    """
    path = Path(path)
    target = _final_target(path)
    tmp = _tmp_path(target)
    _PENDING.add(tmp)
    try:
        write_fn(tmp)
        if is_special_target(path):
            with open(tmp, "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            os.replace(tmp, target)
    except OSError as exc:
        raise _write_error(path, exc) from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass
        _PENDING.discard(tmp)


def file_sha256(path: PathLike) -> str:
    """Hex sha256 of a file's bytes (recorded in model metadata for provenance)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
