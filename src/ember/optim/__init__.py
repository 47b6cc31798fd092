"""Optimizers (torch.optim's API and update rules) and learning-rate schedulers.

Example:
    >>> opt = ember.optim.Adam(model.parameters(), lr=1e-3)
    >>> sched = ember.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
"""

from . import lr_scheduler, swa_utils
from .adam import Adam, Adamax, AdamW, NAdam, RAdam
from .adaptive import Adadelta, Adagrad, RMSprop
from .factored import Adafactor, Muon
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rprop import ASGD, Rprop, SparseAdam
from .sgd import SGD
from ._stateless import swap_in_optimizer_params_and_state

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta",
    "LBFGS", "Adafactor", "Muon", "Rprop", "ASGD", "SparseAdam", "lr_scheduler", "swa_utils",
    "swap_in_optimizer_params_and_state",
]


from .._compat import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("torch.optim", "ember.optim")  # listed torch names raise a clear error
