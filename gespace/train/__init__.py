"""The trainer: ``train(point_or_model, ...) -> TrainResult``, ``evaluate(checkpoint)`` and
``restore(checkpoint)`` (the trained model with its data, for analyses)."""
from gespace.errors import CheckpointError
from gespace.train.config import TRAIN_KEYS, train_config
from gespace.train.result import StopTraining, TrainResult
from gespace.train.schedule import LRSchedule
from gespace.train.trainer import CHECKPOINT_NAME, RESTORE_ERRORS, RESULT_NAME, RestoredRun, evaluate, restore, train

__all__ = ["CHECKPOINT_NAME", "CheckpointError", "LRSchedule", "RESTORE_ERRORS", "RESULT_NAME", "StopTraining",
           "TRAIN_KEYS", "RestoredRun", "TrainResult", "evaluate", "restore", "train", "train_config"]
