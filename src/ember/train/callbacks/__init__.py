"""Trainer callbacks (Lightning 2.x semantics). See :class:`Callback` for the hooks.

Heavy optional packages (tqdm, rich, matplotlib) are imported by the callbacks only when used.
"""

from ember.train.callbacks.callback import Callback
from ember.train.callbacks.early_stopping import EarlyStopping, EarlyStoppingReason
from ember.train.callbacks.grad_accum import GradientAccumulationScheduler
from ember.train.callbacks.lambda_function import LambdaCallback
from ember.train.callbacks.lr_finder import LearningRateFinder, LRFinderResult, lr_find
from ember.train.callbacks.lr_monitor import LearningRateMonitor
from ember.train.callbacks.model_checkpoint import ModelCheckpoint
from ember.train.callbacks.model_summary import ModelSummary
from ember.train.callbacks.on_exception import OnExceptionCheckpoint
from ember.train.callbacks.progress import ProgressBar, RichProgressBar, TQDMProgressBar
from ember.train.callbacks.swa import StochasticWeightAveraging
from ember.train.callbacks.timer import Timer

__all__ = [
    "Callback", "EarlyStopping", "EarlyStoppingReason", "GradientAccumulationScheduler", "LambdaCallback",
    "LearningRateFinder", "LRFinderResult", "lr_find", "LearningRateMonitor", "ModelCheckpoint",
    "ModelSummary", "OnExceptionCheckpoint", "ProgressBar", "RichProgressBar", "TQDMProgressBar",
    "StochasticWeightAveraging", "Timer",
]
