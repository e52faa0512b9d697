"""The trainer: ``train(point_or_model, ...) -> TrainResult`` and ``evaluate(checkpoint)``."""
from gespace.train.config import TRAIN_KEYS, train_config
from gespace.train.result import STATUSES, StopTraining, TrainResult
from gespace.train.schedule import LRSchedule
from gespace.train.trainer import CHECKPOINT_NAME, RESULT_NAME, evaluate, read_result, train

__all__ = ["CHECKPOINT_NAME", "LRSchedule", "RESULT_NAME", "STATUSES", "StopTraining",
           "TRAIN_KEYS", "TrainResult", "evaluate", "read_result", "train", "train_config"]
