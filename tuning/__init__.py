"""Architecture search with KerasTuner: one HyperModel per task, resumable searches."""

from tuning.hypermodels import TaskHyperModel, objective
from tuning.search import TuneConfig, tune

__all__ = ["TaskHyperModel", "TuneConfig", "objective", "tune"]
