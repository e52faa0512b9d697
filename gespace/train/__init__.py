"""The trainer: ``train(point_or_model, ...) -> TrainResult``, ``evaluate(checkpoint)`` and
``restore(checkpoint)`` (the trained model with its data, for analyses)."""
from gespace.train.config import TRAIN_KEYS, train_config
from gespace.train.result import STATUSES, StopTraining, TrainResult
from gespace.train.schedule import LRSchedule
from gespace.train.trainer import (CHECKPOINT_NAME, RESTORE_ERRORS, RESULT_NAME, RestoredRun, evaluate, read_result,
                                   restore, train)

__all__ = ["CHECKPOINT_NAME", "LRSchedule", "RESTORE_ERRORS", "RESULT_NAME", "STATUSES", "StopTraining",
           "TRAIN_KEYS", "RestoredRun", "TrainResult", "evaluate", "read_result", "restore", "train",
           "train_config"]
