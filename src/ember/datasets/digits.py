"""Digits: the 8x8 handwritten digits that ship inside scikit-learn (no download)."""
from __future__ import annotations

import numpy as np

from ..utils.data.dataset import Dataset

__all__ = ["Digits"]

_SPLIT_SEED = 0
_TEST_FRACTION = 0.2


def _load_sklearn_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            "Digits needs scikit-learn, which ships the data: pip install ember[data] "
            "(or pip install scikit-learn)"
        ) from e
    d = load_digits()
    return np.asarray(d.data), np.asarray(d.target)


def _split_indices(targets, split):
    """A stratified split, fixed forever: per class, 20% of its samples (rounded) go to the test set,
    chosen by one permutation from ``numpy.random.default_rng(0)``."""
    if split == "all":
        return np.arange(len(targets))
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(targets))
    test = np.zeros(len(targets), bool)
    for c in np.unique(targets):
        members = order[targets[order] == c]
        test[members[: int(round(_TEST_FRACTION * len(members)))]] = True
    return np.flatnonzero(test if split == "test" else ~test)


class Digits(Dataset):
    """The 1,797 handwritten digits of scikit-learn as ``(image, label)`` pairs.

    Images are float32 tensors of shape (1, 8, 8) scaled to [0, 1]; labels are ints 0-9 (batched
    into int64 tensors). The train/test split is fixed: stratified by class, 20% of each class
    (chosen with seed 0) in the test set, giving 1,438 train and 359 test samples.

    Args:
        root: unused (the data ships with scikit-learn); accepted for torchvision-like signatures.
        train: the training split (True) or the test split (False).
        transform / target_transform: applied to each image / label.
        split: ``"train"``, ``"test"`` or ``"all"``; overrides ``train`` when given.

    Example::

        >>> ds = Digits(train=False)
        >>> x, y = ds[0]
        >>> tuple(x.shape), x.dtype, type(y)
        ((1, 8, 8), ember.float32, <class 'int'>)
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, split=None):
        if split is None:
            split = "train" if train else "test"
        if split not in ("train", "test", "all"):
            raise ValueError(f"Digits: split must be 'train', 'test' or 'all', got {split!r}")
        self.root, self.split, self.train = root, split, split == "train"
        self.transform, self.target_transform = transform, target_transform
        data, targets = _load_sklearn_digits()
        idx = _split_indices(targets, split)
        self.data = (data[idx].reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)
        self.targets = targets[idx].astype(np.int64)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        import ember

        img = ember.Tensor._wrap(self.data[index].copy())
        target = int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self):
        return f"Digits(split={self.split!r}, samples={len(self)})"
