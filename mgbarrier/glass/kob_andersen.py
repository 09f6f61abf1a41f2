"""The 2D Kob-Andersen binary Lennard-Jones mixture, cooled linearly in LAMMPS (the seed's §II A).

Model (Lennard-Jones units: lengths in σ_AA, energies in ε_AA, unit masses, time in τ):

* 65 % type A (LAMMPS type 1), 35 % type B (type 2);
  ε_AA 1.0, ε_AB 1.5, ε_BB 0.5; σ_AA 1.0, σ_AB 0.8, σ_BB 0.88;
  cut-offs 2.5 σ_ab, i.e. 2.5, 2.0, 2.2 (the seed's Table I gives these absolute values);
  the potential is not shifted at the cut-off (the seed does not say; ``shift=True`` shifts it).
* periodic square box in x and y at number density 1.2 (the seed: 4,320 particles in 60 × 60);
  ``dimension 2`` with ``fix enforce2d``; linear momentum zeroed every step.
* random insertion (no overlaps closer than 0.7; other random seeds if that fails, see
  ``INSERT_OVERLAP``), FIRE minimisation, Gaussian velocities at
  T = 2.0, then NVT Nosé-Hoover (damping 0.5 τ) with the target temperature ramped linearly
  from 2.0 to 0.05 over ``t_cool`` steps of 0.005 τ.
* configurations are recorded when the target temperature passes each of
  ``record_temperatures``; each is then quenched to its inherent structure by FIRE
  (energy tolerance 1e-10, force tolerance 1e-5) in a second LAMMPS instance, so the
  dynamics are not disturbed.

Everything LAMMPS goes through :mod:`mgbarrier.lammps` (no ``LD_LIBRARY_PATH`` needed).
One simulation = one :class:`CoolingRun`, saved as one ``.npz`` (see :func:`save_run`).
"""
from __future__ import annotations

import math
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import MgBarrierError

#: LJ parameters (epsilon, sigma, cutoff) for the type pairs (1 = A, 2 = B)
KA_PAIRS: Dict[tuple, tuple] = {(1, 1): (1.0, 1.0, 2.5), (1, 2): (1.5, 0.8, 2.0), (2, 2): (0.5, 0.88, 2.2)}

#: the temperatures the seed's datasets use (glass 0.05, liquids of datasets 1-5)
DATASET_TEMPERATURES = (0.05, 0.44, 0.55, 0.96, 1.76, 1.99)


def default_record_temperatures(step: float = 0.05) -> List[float]:
    """1.99, then every ``step`` from 1.95 down to 0.05, plus the dataset temperatures (descending)."""
    grid = np.round(np.arange(1.95, 0.05 - 1e-9, -step), 6).tolist()
    temps = sorted(set(grid) | set(DATASET_TEMPERATURES), reverse=True)
    return [float(t) for t in temps]


@dataclass
class KASettings:
    """One cooling simulation of the 2D Kob-Andersen mixture (LJ units).

    n_particles: total particles (A = round(fraction_a · n), rest B)
    density: particles per σ² (box side = sqrt(n / density))
    t_cool: MD steps of the linear ramp t_start -> t_end (the seed: 2e5 and 2e7)
    t_equil: MD steps at t_start before the ramp (melts the minimised random packing, whose
        potential energy would otherwise take half the kinetic energy; the seed starts the ramp
        at once, which its 2e5-2e7-step ramps absorb; 0 = as the seed)
    dt: time step in τ; tdamp: Nosé-Hoover damping time in τ
    record_temperatures: target temperatures at which configurations are recorded
    quench_temperatures: the recorded temperatures whose inherent structure is computed
        (None: all; the others get NaN energies and positions; a FIRE quench costs about as
        much as 8,000 MD steps, so large runs quench only where the energy is needed)
    fire_*: FIRE stopping criteria of the inherent-structure quench
    """

    n_particles: int = 4320
    density: float = 1.2
    fraction_a: float = 0.65
    t_start: float = 2.0
    t_end: float = 0.05
    t_cool: int = 20_000_000
    t_equil: int = 4000
    dt: float = 0.005
    tdamp: float = 0.5
    record_temperatures: Sequence[float] = field(default_factory=default_record_temperatures)
    quench_temperatures: Optional[Sequence[float]] = None
    fire_etol: float = 1e-10
    fire_ftol: float = 1e-5
    fire_maxiter: int = 100_000
    shift: bool = False

    @property
    def box_length(self) -> float:
        """Side of the square box in σ_AA."""
        return math.sqrt(self.n_particles / self.density)

    @property
    def n_a(self) -> int:
        return int(round(self.fraction_a * self.n_particles))

    def check(self) -> None:
        if self.n_particles < 8:
            raise MgBarrierError(f"n_particles: need at least 8 particles, got {self.n_particles}")
        if not 0 < self.fraction_a < 1:
            raise MgBarrierError(f"fraction_a: must be in (0, 1), got {self.fraction_a}")
        if self.t_equil < 0:
            raise MgBarrierError(f"t_equil: must be >= 0 steps, got {self.t_equil}")
        if self.t_cool < 1:
            raise MgBarrierError(f"t_cool: must be >= 1 step, got {self.t_cool}")
        if not self.density > 0:
            raise MgBarrierError(f"density: must be > 0, got {self.density}")
        lo, hi = sorted((self.t_start, self.t_end))
        bad = [t for t in self.record_temperatures if not lo - 1e-12 <= t <= hi + 1e-12]
        if bad:
            raise MgBarrierError(f"record_temperatures: {bad[:3]} outside the ramp {self.t_start} -> {self.t_end}")

    def record_steps(self) -> np.ndarray:
        """(R,) int MD step at which the target temperature equals each recorded temperature."""
        t = np.asarray(self.record_temperatures, dtype=float)
        frac = (self.t_start - t) / (self.t_start - self.t_end)
        return np.rint(frac * self.t_cool).astype(np.int64)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["record_temperatures"] = [float(t) for t in self.record_temperatures]
        if self.quench_temperatures is not None:
            d["quench_temperatures"] = [float(t) for t in self.quench_temperatures]
        return d

    def quench_mask(self) -> np.ndarray:
        """(R,) bool: which records get an inherent structure."""
        temps = np.asarray(self.record_temperatures, dtype=float)
        if self.quench_temperatures is None:
            return np.ones(len(temps), dtype=bool)
        q = np.asarray(list(self.quench_temperatures), dtype=float)
        return np.isclose(temps[:, None], q[None, :], atol=1e-9).any(axis=1)


@dataclass
class CoolingRun:
    """The recorded states of one cooling simulation (R records, N particles, LJ units).

    temperatures: (R,) target temperature at each record; steps: (R,) MD step
    kinetic_temperatures: (R,) instantaneous kinetic temperature
    positions: (R, N, 2) float32 wrapped into [0, L); is_positions: (R, N, 2) after FIRE
    types: (N,) int8, 1 = A, 2 = B; box_length: L in σ_AA
    e_pot, e_is: (R,) potential energy per particle before / after the FIRE quench (ε_AA)
    """

    temperatures: np.ndarray
    steps: np.ndarray
    kinetic_temperatures: np.ndarray
    positions: np.ndarray
    is_positions: np.ndarray
    types: np.ndarray
    box_length: float
    e_pot: np.ndarray
    e_is: np.ndarray
    seed: int
    settings: dict
    wall_s: float = 0.0

    @property
    def n_particles(self) -> int:
        return int(self.types.shape[0])


# ----------------------------------------------------------------------------- LAMMPS
def _setup_commands(s: KASettings) -> List[str]:
    """Box and potential, shared by the MD and the minimiser instance (no atoms created)."""
    L = s.box_length
    cmds = ["units lj", "dimension 2", "atom_style atomic", "boundary p p p", "atom_modify map array",
            f"region box block 0 {L!r} 0 {L!r} -0.5 0.5", "create_box 2 box", "mass * 1.0",
            "pair_style lj/cut 2.5"]
    cmds += [f"pair_coeff {a} {b} {e} {sg} {rc}" for (a, b), (e, sg, rc) in KA_PAIRS.items()]
    if s.shift:
        cmds.append("pair_modify shift yes")
    # thermo_style resets thermo_modify: the energies are normalised by hand (_pe_per_particle)
    cmds += ["neighbor 0.3 bin", "neigh_modify every 1 delay 0 check yes", "thermo_style custom step temp pe",
             "thermo_modify norm no", "thermo 0"]
    return cmds


#: closest distance (σ) of the random insertion.  At density 1.2 it covers 46 % of the plane,
#: near the 2D random-sequential-adsorption limit (54.7 %), so for about 1 seed in 20 LAMMPS
#: cannot place every particle; the insertion is then repeated from scratch with other random
#: seeds (``seed + j * INSERT_SEED_STRIDE``), up to ``INSERT_TRIES`` times.  (A smaller closest
#: distance is no way out: from 0.6 σ the FIRE pre-relaxation loses atoms.)
INSERT_OVERLAP = 0.7
INSERT_TRIES = 5
INSERT_SEED_STRIDE = 1_000_003


def _insert_commands(s: KASettings, seed: int, attempt: int = 0) -> List[str]:
    n, na = s.n_particles, s.n_a
    r = seed + attempt * INSERT_SEED_STRIDE
    return [f"create_atoms 1 random {na} {r} NULL overlap {INSERT_OVERLAP} maxtry 1000",
            f"create_atoms 2 random {n - na} {r + 7919} NULL overlap {INSERT_OVERLAP} maxtry 1000"]


def _place_particles(lmp, s: KASettings, seed: int) -> int:
    """Random insertion into an empty box (see ``INSERT_OVERLAP``); returns the attempt that
    placed all ``s.n_particles`` (0 = the first) or raises :class:`MgBarrierError`."""
    n = s.n_particles
    for attempt in range(INSERT_TRIES):
        if attempt:
            lmp.command("delete_atoms group all")
        for c in _insert_commands(s, seed, attempt):
            lmp.command(c)
        if int(lmp.get_natoms()) == n:
            return attempt
    raise MgBarrierError(f"LAMMPS: could place only {int(lmp.get_natoms())} of {n} particles at density "
                         f"{s.density} (closest distance {INSERT_OVERLAP} σ, {INSERT_TRIES} random seeds tried)")


def _after_placement_commands(s: KASettings, seed: int) -> List[str]:
    """FIRE, velocities, melt at t_start and the ramp fix (no run of the ramp), once the
    particles are in the box (:func:`_setup_commands`, then :func:`_place_particles`)."""
    cmds = [
        f"timestep {s.dt}", "fix e2d all enforce2d", "min_style fire",
        f"minimize {s.fire_etol} {s.fire_ftol} 1000 1000", "reset_timestep 0",
        f"velocity all create {s.t_start} {seed + 104729} mom yes rot no dist gaussian",
        "fix mom all momentum 1 linear 1 1 0"]
    if s.t_equil > 0:
        cmds += [f"fix nvt all nvt temp {s.t_start} {s.t_start} {s.tdamp}", f"run {s.t_equil} post no",
                 "unfix nvt", "reset_timestep 0"]
    cmds.append(f"fix nvt all nvt temp {s.t_start} {s.t_end} {s.tdamp}")
    return cmds


def lammps_script(settings: KASettings, seed: int, dump_every: int = 0) -> str:
    """The MD of :func:`run_cooling` as a plain LAMMPS input (for the ``lmp`` binary).

    Adds ``run t_cool`` (and, with ``dump_every``, a ``dump custom`` of id, type, x, y every
    ``dump_every`` steps to ``ka2d.dump``); the inherent structures are not part of it.
    """
    s = settings
    s.check()
    head = [f"# 2D Kob-Andersen: N {s.n_particles}, density {s.density}, T {s.t_start} -> {s.t_end} "
            f"over {s.t_cool} steps of {s.dt} tau, seed {seed} (mgbarrier.glass.kob_andersen)"]
    # the first insertion attempt only: a seed it cannot fully place is retried by run_cooling
    md = _setup_commands(s) + _insert_commands(s, seed) + _after_placement_commands(s, seed)
    cmds = [c for c in md if not c.startswith("thermo")]
    cmds += ["thermo_style custom step temp pe press", "thermo_modify norm yes", f"thermo {max(s.t_cool // 20, 1)}"]
    if dump_every:
        cmds.append(f"dump d all custom {int(dump_every)} ka2d.dump id type x y")
    cmds.append(f"run {s.t_cool}")
    return "\n".join(head + cmds) + "\n"


def _new_lammps():
    from ..lammps import lammps

    return lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])


def _gather_xy(lmp, n: int, L: float) -> np.ndarray:
    x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3)[:, :2].astype(float)
    return np.mod(x, L)


def _pe_per_particle(lmp, n: int) -> float:
    return float(lmp.get_thermo("pe")) / n


class _Minimiser:
    """A second LAMMPS instance holding the same particles; FIRE-quenches given positions."""

    def __init__(self, s: KASettings, types: np.ndarray):
        self.s, self.n = s, len(types)
        self.lmp = _new_lammps()
        for c in _setup_commands(s):
            self.lmp.command(c)
        ids = np.arange(1, self.n + 1, dtype=np.int64)
        x = np.zeros((self.n, 3))
        self.lmp.create_atoms(self.n, ids.tolist(), [int(t) for t in types], x.ravel().tolist())
        for c in ("fix e2d all enforce2d", "min_style fire", f"timestep {s.dt}"):
            self.lmp.command(c)

    def quench(self, xy: np.ndarray) -> tuple:
        """FIRE from ``xy`` (N, 2); returns (energy per particle, (N, 2) minimised positions)."""
        import ctypes

        x = np.zeros((self.n, 3))
        x[:, :2] = np.mod(xy, self.s.box_length)
        self.lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * (3 * self.n))(*x.ravel()))
        self.lmp.command("set group all image 0 0 0")
        self.lmp.command("reset_timestep 0")
        self.lmp.command(f"minimize {self.s.fire_etol} {self.s.fire_ftol} {self.s.fire_maxiter} "
                         f"{10 * self.s.fire_maxiter}")
        return _pe_per_particle(self.lmp, self.n), _gather_xy(self.lmp, self.n, self.s.box_length)

    def close(self):
        self.lmp.close()


def run_cooling(settings: KASettings, seed: int, progress: Optional[Callable[[str], None]] = None) -> CoolingRun:
    """One cooling simulation with seed ``seed`` (positions and velocities); see the module doc.

    ``progress`` receives one line per recorded temperature.  Single-process LAMMPS.
    """
    s = settings
    s.check()
    if seed < 1:
        raise MgBarrierError(f"seed: LAMMPS needs a positive seed, got {seed}")
    t_wall = time.perf_counter()
    n = s.n_particles
    L = s.box_length
    lmp = _new_lammps()
    old = signal.getsignal(signal.SIGINT)
    try:
        for c in _setup_commands(s):
            lmp.command(c)
        _place_particles(lmp, s, seed)
        for c in _after_placement_commands(s, seed):
            lmp.command(c)
        types = np.ctypeslib.as_array(lmp.gather_atoms("type", 0, 1)).astype(np.int8).copy()
        minimiser = _Minimiser(s, types)
        steps = s.record_steps()
        order = np.argsort(steps, kind="stable")
        R = len(steps)
        pos = np.zeros((R, n, 2), dtype=np.float32)
        is_pos = np.full((R, n, 2), np.nan, dtype=np.float32)
        e_pot, e_is, t_kin = np.zeros(R), np.full(R, np.nan), np.zeros(R)
        quench = s.quench_mask()
        current = 0
        first = True
        t_quench = 0.0
        # Ctrl-C cannot interrupt LAMMPS from Python: let it end the process at once
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for r in order:
            target = int(steps[r])
            if target > current or first:
                lmp.command(f"run {target - current} start 0 stop {s.t_cool} pre {'yes' if first else 'no'} post no")
                first = False
                current = target
            xy = _gather_xy(lmp, n, L)
            pos[r] = xy
            e_pot[r] = _pe_per_particle(lmp, n)
            t_kin[r] = float(lmp.get_thermo("temp"))
            if quench[r]:
                t_q = time.perf_counter()
                e_is[r], q = minimiser.quench(xy)
                t_quench += time.perf_counter() - t_q
                is_pos[r] = q
            if progress:
                progress(f"seed {seed}: T {s.record_temperatures[r]:.3f} (step {target}/{s.t_cool}) "
                         f"E_pot {e_pot[r]:.4f} E_IS {e_is[r]:.4f}  {time.perf_counter() - t_wall:.1f} s "
                         f"({t_quench:.1f} s quenching)")
        minimiser.close()
    finally:
        signal.signal(signal.SIGINT, old)
        lmp.close()
    return CoolingRun(temperatures=np.asarray(s.record_temperatures, dtype=float), steps=steps,
                      kinetic_temperatures=t_kin, positions=pos, is_positions=is_pos, types=types,
                      box_length=L, e_pot=e_pot, e_is=e_is, seed=int(seed), settings=s.to_dict(),
                      wall_s=time.perf_counter() - t_wall)


# ----------------------------------------------------------------------------- files
def inherent_structure(run: CoolingRun, record: int) -> tuple:
    """FIRE-quench record ``record`` of ``run`` as :func:`run_cooling` does (same settings);
    returns (energy per particle (ε_AA), (N, 2) float32 minimised positions in [0, L))."""
    fields = set(KASettings.__dataclass_fields__)
    s = KASettings(**{k: v for k, v in run.settings.items() if k in fields})
    m = _Minimiser(s, run.types)
    try:
        e, xy = m.quench(np.asarray(run.positions[record], dtype=float))
    finally:
        m.close()
    return float(e), np.asarray(xy, dtype=np.float32)


def save_run(path: Union[str, Path], run: CoolingRun) -> None:
    """Write ``run`` as a compressed ``.npz`` atomically (never a half-written file)."""
    import json

    from ..io.files import atomic_write

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, temperatures=run.temperatures, steps=run.steps,
                                kinetic_temperatures=run.kinetic_temperatures, positions=run.positions,
                                is_positions=run.is_positions, types=run.types,
                                box_length=np.float64(run.box_length), e_pot=run.e_pot, e_is=run.e_is,
                                seed=np.int64(run.seed), wall_s=np.float64(run.wall_s),
                                settings=np.array(json.dumps(run.settings)))

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)


def load_run(path: Union[str, Path]) -> CoolingRun:
    """Read a file written by :func:`save_run`."""
    import json
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise MgBarrierError(f"{path}: no such simulation file")
    try:
        with np.load(path, allow_pickle=False) as z:
            return CoolingRun(temperatures=z["temperatures"], steps=z["steps"],
                              kinetic_temperatures=z["kinetic_temperatures"], positions=z["positions"],
                              is_positions=z["is_positions"], types=z["types"], box_length=float(z["box_length"]),
                              e_pot=z["e_pot"], e_is=z["e_is"], seed=int(z["seed"]),
                              settings=json.loads(str(z["settings"])), wall_s=float(z["wall_s"]))
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise MgBarrierError(f"{path}: not a complete cooling-run file ({type(exc).__name__}: {exc})") from None
