"""ARTn parameters, named as in lammps-ARTn's ``artn.control`` (and echoed in its ``log.artn``).

Defaults are the values of the Cu64Zr36 label run (``log.artn.1`` of the fixture
``lammps-artn-cu64zr36``), i.e. what lammps-ARTn users of the published labels ran with;
parameters that lammps-ARTn does not have are marked *(ours)*.  Units: Å, eV, eV/Å,
eV/Å² (curvatures are eigenvalues of the Hessian in eV/Å², no mass weighting).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, Mapping, Union

from ..errors import MgBarrierError


@dataclass(frozen=True)
class ArtnSettings:
    # --- activation, harmonic well escape
    cluster_radius: float = 3.7          # atoms within this radius of the centre get the random kick (Å)
    init_step_size: float = 0.1          # norm of the initial kick (Å)
    increment_size: float = 0.08         # overall scale of the moves (Å)
    basin_factor: float = 2.4            # push step out of the well = basin_factor * increment_size
    min_num_ksteps: int = 3              # pushes before the first Lanczos
    max_perp_move_h: int = 5             # max perpendicular relaxation steps per push in the well
    max_iter_basin: int = 40             # max pushes to leave the well (lammps-ARTn 2000)
    force_th_perp_h: float = 0.2         # perpendicular force threshold in the well (eV/Å, 2-norm)
    eigen_th_well: float = -0.5          # the well is left when the lowest curvature is below this
    # --- activation, converging to the saddle
    max_activat_iter: int = 300          # max iterations towards the saddle (lammps-ARTn 5000)
    eigen_th_fail: float = 0.0001        # search fails when the lowest curvature rises above this
    force_th_saddle: float = 0.01        # converged when the total force 2-norm is below this (eV/Å)
    conv_perp_inc: int = 3               # perpendicular steps at iteration k: min(max_perp_moves_c, k + conv_perp_inc)
    max_perp_moves_c: int = 70           # max perpendicular (FIRE) steps per iteration
    force_th_perp_sad: float = 0.005     # perpendicular force threshold near the saddle (eV/Å, 2-norm)
    # --- confirmation of the saddle
    disp_sad2min_thr: float = -1.0       # min distance saddle - initial minimum (Å); <= 0: 2 * init_step_size
    flag_push_back: int = 1              # push back: the saddle must relax to the initial minimum
    push_over_saddle: float = 0.2        # push along the eigenvector before relaxing (Å)
    max_disp_tol: float = 0.5            # push-back minimum: no atom farther than this from the start (Å) ...
    max_ener_tol: float = 0.1            # ... and this energy (eV) of the initial minimum
    # --- Lanczos
    num_lancz_vec_h: int = 25            # max Lanczos vectors leaving the well
    num_lancz_vec_c: int = 15            # max Lanczos vectors converging to the saddle
    del_disp_lancz: float = 0.001        # finite-difference step of the Hessian-vector products (Å)
    eigen_th_lancz: float = 0.01         # Lanczos stops when the eigenvalue changes by less than this (relative)
    # --- new minimum
    atom_disp_thr: float = 0.4           # an atom moved by more than this counts in nMove (Å)
    # --- ours
    # (ours) fail after this many iterations in a row above eigen_th_fail (lammps-ARTn: 0, fail at
    # the first).  1 forgives one estimate: forward-difference Lanczos is noisy near zero curvature,
    # and 1 of 8 accepted Cu64Zr36 glass searches had one positive estimate (none had two)
    max_positive_eigen: int = 1
    # (ours) central differences in Lanczos (2 force calls per vector; lammps-ARTn: forward)
    lanczos_central: bool = False
    # (ours) force tolerance (eV/Å, max per atom) of the push-back / push-over minimisations
    min_fmax: float = 0.01
    min_max_steps: int = 3000            # (ours) max steps of those minimisations
    # (ours) the final minimum of an accepted event is relaxed further to this (eV/Å, max per atom)
    min_fmax_final: float = 0.001
    # (ours) most displaced atom at the saddle within this of the centre (Å); <= 0: 2 * cluster_radius
    sad_local_radius: float = 0.0
    eigen_th_second: float = -0.01       # (ours) second-lowest curvature at the saddle must be above this
    check_second_eigen: bool = True      # (ours) compute the second curvature (deflated Lanczos) at the saddle
    dmax: float = 0.1                    # (ours) max displacement of one coordinate per step (Å; LAMMPS dmax)
    # (ours) FIRE's velocity and time step carry over between the perpendicular relaxations of
    # successive iterations towards the saddle (lammps-ARTn restarts FIRE at each)
    fire_keep_state: bool = True
    # (ours) stop converging as soon as the energy falls below the initial minimum's: such a point
    # lies outside the initial basin (steepest descent inside it only goes down, to E_initial)
    stop_below_initial: bool = True
    # (ours) local force region (kinetic ART): only the atoms within this of the centre move (Å), the
    # forces come from a sub-system of the atoms within it + 2 cut-offs (saddles.local); 0: all atoms
    local_force_radius: float = 0.0
    # (ours) with a local force region: an accepted local saddle is converged again and confirmed with
    # every atom free in the full system (kinetic ART's refinement); the barrier is then the full system's
    local_force_refine: bool = True

    # ------------------------------------------------------------------ helpers
    @property
    def sad2min_threshold(self) -> float:
        return self.disp_sad2min_thr if self.disp_sad2min_thr > 0 else 2.0 * self.init_step_size

    @property
    def local_radius(self) -> float:
        return self.sad_local_radius if self.sad_local_radius > 0 else 2.0 * self.cluster_radius

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "ARTn settings") -> "ArtnSettings":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise MgBarrierError(f"{source}: unknown ARTn parameter(s) {', '.join(unknown)}")
        kw = {}
        for k, v in d.items():
            typ = type(getattr(cls(), k))
            try:
                kw[k] = bool(int(v)) if typ is bool else typ(v)
            except (TypeError, ValueError):
                raise MgBarrierError(f"{source}: parameter {k}: {v!r} is not a {typ.__name__}") from None
        s = cls(**kw)
        s.validate(source)
        return s

    def replace(self, **kw) -> "ArtnSettings":
        s = dataclasses.replace(self, **kw)
        s.validate()
        return s

    def validate(self, source: str = "ARTn settings") -> None:
        positive = ["init_step_size", "increment_size", "basin_factor", "force_th_perp_h", "force_th_saddle",
                    "force_th_perp_sad", "del_disp_lancz", "eigen_th_lancz", "max_disp_tol", "max_ener_tol",
                    "min_fmax", "min_fmax_final", "dmax", "atom_disp_thr"]
        for k in positive:
            if not getattr(self, k) > 0:
                raise MgBarrierError(f"{source}: {k} must be > 0 (got {getattr(self, k)})")
        if self.max_positive_eigen < 0:
            raise MgBarrierError(f"{source}: max_positive_eigen must be >= 0 (got {self.max_positive_eigen})")
        for k in ["min_num_ksteps", "max_perp_move_h", "max_iter_basin", "max_activat_iter", "max_perp_moves_c",
                  "num_lancz_vec_h", "num_lancz_vec_c", "min_max_steps"]:
            if getattr(self, k) < 1:
                raise MgBarrierError(f"{source}: {k} must be >= 1 (got {getattr(self, k)})")
        if self.eigen_th_well >= 0:
            raise MgBarrierError(f"{source}: eigen_th_well must be < 0 (got {self.eigen_th_well})")
        if self.cluster_radius < 0:
            raise MgBarrierError(f"{source}: cluster_radius must be >= 0 (got {self.cluster_radius})")
        if self.local_force_radius < 0 or 0 < self.local_force_radius < self.cluster_radius:
            raise MgBarrierError(f"{source}: local_force_radius must be 0 (off) or >= cluster_radius "
                                 f"{self.cluster_radius} Å (got {self.local_force_radius})")

    @classmethod
    def from_artn_log(cls, path: Union[str, Path]) -> "ArtnSettings":
        """Settings from a lammps-ARTn ``log.artn`` / ``artn.control`` (parameters we do not use are ignored)."""
        path = Path(path)
        known = {f.name for f in fields(cls)}
        d = {}
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            raise MgBarrierError(f"{path}: cannot read ({exc.strerror})") from None
        for line in text.splitlines():
            line = line.split("#", 1)[0].split()
            if len(line) >= 2 and line[0] in known:
                d[line[0]] = line[1]
            if line[:1] == ["Minimizing"]:
                break
        if not d:  # an empty, truncated or unrelated file would silently mean "the defaults"
            raise MgBarrierError(f"{path}: no ARTn parameter in it (expected lammps-ARTn lines 'NAME VALUE', "
                                 "e.g. 'eigen_th_well -0.5')")
        return cls.from_dict(d, str(path))
