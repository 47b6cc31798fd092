"""Experiment loggers (Lightning 2.x interface): ``CSVLogger`` (the default, no server needed) and
``TensorBoardLogger`` (real event files, written without tensorflow or tensorboard)."""

from ember.train.loggers.base import DummyLogger, Logger, rank_zero_experiment
from ember.train.loggers.csv_logs import CSVLogger, read_metrics_csv
from ember.train.loggers.tensorboard import TensorBoardLogger, read_events

__all__ = ["Logger", "DummyLogger", "CSVLogger", "TensorBoardLogger", "read_events", "read_metrics_csv",
           "rank_zero_experiment"]
