"""Ready-made datasets: ``Digits`` (ships with scikit-learn), ``MNIST`` and ``FashionMNIST`` (IDX files).

Example::

    >>> from ember.datasets import Digits
    >>> len(Digits(train=True)), len(Digits(train=False))
    (1438, 359)
"""
from . import transforms
from .digits import Digits
from .mnist import MNIST, FashionMNIST, IDXError, default_cache_dir, read_idx

__all__ = ["Digits", "FashionMNIST", "IDXError", "MNIST", "default_cache_dir", "read_idx", "transforms"]
