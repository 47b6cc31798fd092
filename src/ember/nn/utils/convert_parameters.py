"""``parameters_to_vector`` and ``vector_to_parameters``."""
from __future__ import annotations

from ... import _ops as O
from ..._tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    if not ps:
        raise RuntimeError("parameters_to_vector: expected a non-empty iterable of tensors")
    return O.cat([p.reshape(-1) for p in ps])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D tensor ``vec`` into the parameters (their ``.data``)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected vec to be an ember Tensor, but got: {type(vec).__name__}")
    if vec.ndim != 1:
        raise RuntimeError(f"vector_to_parameters: vec must be 1-D, got shape {tuple(vec.shape)}")
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    need = sum(p.numel() for p in ps)
    if need != vec.numel():
        raise RuntimeError(
            f"vector_to_parameters: vec has {vec.numel()} elements but the parameters need {need}"
        )
    i = 0
    for p in ps:
        n = p.numel()
        p._data = vec._data[i:i + n].reshape(p._data.shape).astype(p._data.dtype, copy=True)
        p._bump()
        i += n
