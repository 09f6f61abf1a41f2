"""Training: the SymGNN trainer (:mod:`.symgnn`), the shared run state (:mod:`.run_state`),
output-layer refit (:mod:`.refit`), the descriptor fit (:mod:`.descriptor`) and ensembles
(:mod:`.ensemble`).  The names of the former ``mgbarrier.training`` module are re-exported."""
from __future__ import annotations

from .run_state import TrainingInterrupted
from .symgnn import LabelledGraph, TrainSettings, evaluate, make_labelled_graph, structure_loss, train

__all__ = ["TrainSettings", "LabelledGraph", "make_labelled_graph", "train", "evaluate", "structure_loss",
           "TrainingInterrupted"]
