"""default_collate / default_convert: turn a list of samples into one batch (torch's rules)."""
from __future__ import annotations

import collections.abc
import copy
import re

import numpy as np

import ember
from ember._dtype import get_default_dtype

__all__ = ["default_collate", "default_convert"]

_STR_OBJ = re.compile(r"[SaUO]")
_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _wrap(arr):
    arr = np.asarray(arr)
    if arr.dtype.kind == "c":
        ember._dtype.from_numpy(arr.dtype)  # a complex batch arms ember's complex-input checks
    return ember.Tensor._wrap(arr if arr.flags.c_contiguous else arr.copy())


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _rebuild_mapping(elem, items):
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(items)
            return clone
        return type(elem)(items)
    except TypeError:
        return dict(items)


def _rebuild_sequence(elem, items):
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, v in enumerate(items):
                clone[i] = v
            return clone
        return type(elem)(items)
    except TypeError:
        return list(items)


def _collate_numbers(batch, elem):
    odd = sorted({type(b).__name__ for b in batch if not isinstance(b, (int, float, np.bool_, np.number))})
    if odd:  # torch.tensor([1, "a"]) refuses too; a NumPy string array would be a broken tensor
        kinds = sorted({type(b).__name__ for b in batch})
        raise TypeError(f"default_collate: the samples at this position mix numbers and {', '.join(odd)} "
                        f"(element types: {', '.join(kinds)}); a batch field must hold one kind of value. "
                        "Convert the labels to numbers in the dataset, or pass a collate_fn")
    if isinstance(elem, float):
        return _wrap(np.asarray(batch, dtype=np.float64))
    arr = np.asarray(batch)  # bools stay bool, ints become int64
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.int64, copy=False)
    elif arr.dtype.kind == "f":  # ints mixed with floats: the default float dtype, as torch.tensor does
        arr = arr.astype(get_default_dtype().np)
    return _wrap(arr)


def default_collate(batch):
    """Stack a list of samples into a batch, recursing into tuples, lists, dicts and namedtuples.

    Tensors are stacked with ``ember.stack``; NumPy arrays and NumPy scalars become tensors of their
    dtype; Python floats become ``float64``, ints ``int64`` and bools ``bool`` tensors; strings and
    bytes are kept as they are. A tuple sample gives a *list* of batched fields, as in torch.

    Example::

        >>> out = default_collate([(np.zeros(2, np.float32), 1), (np.ones(2, np.float32), 0)])
        >>> tuple(out[0].shape), out[0].dtype, out[1].dtype
        ((2, 2), ember.float32, ember.int64)
    """
    if len(batch) == 0:
        raise ValueError("default_collate: got an empty batch (no samples to collate)")
    elem = batch[0]
    if isinstance(elem, ember.Tensor):
        return ember.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if _STR_OBJ.search(elem.dtype.str) is not None:
            raise TypeError(_ERR.format(elem.dtype))
        shapes = {b.shape for b in batch}
        if len(shapes) > 1:
            raise RuntimeError(
                f"default_collate: stack expects each array to be equal size, got shapes {sorted(shapes)}; "
                "pad the samples or pass a collate_fn"
            )
        return _wrap(np.stack(batch, 0))
    if isinstance(elem, (np.bool_, np.number, np.object_)):
        arr = np.asarray(batch)
        if arr.dtype.kind in "OSU":
            kinds = sorted({type(b).__name__ for b in batch})
            raise TypeError(f"default_collate: the samples at this position mix element types {', '.join(kinds)}; "
                            "a batch field must hold one kind of value (or pass a collate_fn)")
        return _wrap(arr)
    if isinstance(elem, (float, int)):  # bool is an int
        return _collate_numbers(batch, elem)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(elem, {k: default_collate([d[k] for d in batch]) for k in elem})
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError(
                "default_collate: each element in list of batch should be of equal size, got sizes "
                f"{[len(e) for e in batch]}"
            )
        fields = [default_collate(s) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return fields  # a list, as torch returns for tuples
        return _rebuild_sequence(elem, fields)
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """Turn NumPy arrays (also nested in containers) into tensors; leave everything else as it is.

    The collate function used when batching is disabled (``batch_size=None``).

    Example::

        >>> default_convert({"x": np.arange(3)})["x"].dtype
        ember.int64
    """
    if isinstance(data, ember.Tensor):
        return data
    t = type(data)
    if t.__module__ == "numpy" and t.__name__ not in ("str_", "string_", "bytes_"):
        if isinstance(data, np.ndarray) and _STR_OBJ.search(data.dtype.str) is not None:
            return data
        return _wrap(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {k: default_convert(data[k]) for k in data})
    if _is_namedtuple(data):
        return t(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data
