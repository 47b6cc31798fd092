"""``seed_everything``: Lightning's one call that seeds Python's, NumPy's and ember's generators."""
from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed=None, workers=False, verbose=True):
    """Seed ``random``, ``numpy.random`` and ember's default generator with ``seed`` and return it.

    As Lightning's ``seed_everything``: ``seed=None`` reads the ``PL_GLOBAL_SEED`` environment
    variable, else picks 0; the seed is stored in ``PL_GLOBAL_SEED`` (and ``workers=True`` in
    ``PL_SEED_WORKERS``) so worker processes can derive theirs. Out-of-range seeds raise.
    """
    import ember

    if seed is None:
        env = os.environ.get("PL_GLOBAL_SEED")
        seed = int(env) if env is not None else 0
    seed = int(seed)
    if not (0 <= seed <= 2**32 - 1):
        raise ValueError(f"seed_everything: {seed} is not in bounds, numpy accepts from 0 to {2**32 - 1}")
    if verbose:
        import logging

        logging.getLogger("ember.train").info("Seed set to %d", seed)
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    ember.manual_seed(seed)
    os.environ["PL_SEED_WORKERS"] = f"{int(workers)}"
    return seed
