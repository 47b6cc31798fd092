"""Simple image transforms in torchvision's style: ToTensor, Normalize, Compose, Lambda."""
from __future__ import annotations

import numpy as np

__all__ = ["Compose", "Lambda", "Normalize", "ToTensor"]


class Compose:
    """Apply transforms one after another.

    Example::

        >>> t = Compose([ToTensor(), Normalize([0.5], [0.5])])
        >>> tuple(t(np.zeros((2, 2), np.uint8)).shape)
        (1, 2, 2)
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(f"Compose: transform {i} is not callable: {t!r}")

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Lambda:
    """Wrap a function as a transform.

    Example::

        >>> Lambda(lambda x: x * 2)(3)
        6
    """

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"Lambda: expected a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return "Lambda()"


class ToTensor:
    """An image array of shape (H, W) or (H, W, C) to a tensor of shape (C, H, W).

    ``uint8`` images are scaled to float32 in [0, 1]; other dtypes keep their values (as torchvision
    does). Accepts NumPy arrays and ember tensors.

    Example::

        >>> x = ToTensor()(np.full((28, 28), 255, np.uint8))
        >>> tuple(x.shape), x.dtype, float(x.max())
        ((1, 28, 28), ember.float32, 1.0)
    """

    def __call__(self, pic):
        import ember

        arr = pic._data if isinstance(pic, ember.Tensor) else pic
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"ToTensor: expected a NumPy array or an ember tensor, got {type(pic).__name__}")
        if arr.ndim == 2:
            arr = arr[None]
        elif arr.ndim == 3:
            arr = arr.transpose(2, 0, 1)
        else:
            raise ValueError(
                f"ToTensor: expected an image of shape (H, W) or (H, W, C), got shape {tuple(arr.shape)}"
            )
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / np.float32(255)
        return ember.Tensor._wrap(np.ascontiguousarray(arr))

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """``(x - mean[c]) / std[c]`` for each channel ``c`` of a float tensor of shape (..., C, H, W).

    Example::

        >>> Normalize(mean=[0.5], std=[0.25])(ember.ones(1, 2, 2)).tolist()
        [[[2.0, 2.0], [2.0, 2.0]]]
    """

    def __init__(self, mean, std, inplace=False):
        self.mean = [float(m) for m in np.atleast_1d(mean)]
        self.std = [float(s) for s in np.atleast_1d(std)]
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise ValueError(f"Normalize: mean has {len(self.mean)} entries but std has {len(self.std)}")
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std {self.std} contains zero, which would divide by zero")
        self.inplace = inplace

    def __call__(self, x):
        import ember

        if not isinstance(x, ember.Tensor) or not x.dtype.is_floating_point:
            what = type(x).__name__ if not isinstance(x, ember.Tensor) else f"a {x.dtype} tensor"
            raise TypeError(f"Normalize: expected a floating-point tensor (use ToTensor first), got {what}")
        if len(x.shape) < 3:
            raise ValueError(
                f"Normalize: expected a tensor of shape (..., C, H, W), got shape {tuple(x.shape)}"
            )
        c = x.shape[-3]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {name} has {len(v)} entries but the image has {c} channels")
        dt = x.dtype.np
        mean = np.asarray(self.mean, dt).reshape(-1, 1, 1)
        std = np.asarray(self.std, dt).reshape(-1, 1, 1)
        if self.inplace:
            np.subtract(x._data, mean, out=x._data)
            np.divide(x._data, std, out=x._data)
            x._bump()
            return x
        return (x - ember.Tensor._wrap(mean)) / ember.Tensor._wrap(std)

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"
