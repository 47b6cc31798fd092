"""``weight_norm`` / ``remove_weight_norm`` (torch's original forward-pre-hook API, deprecated in torch in
favour of ``ember.nn.utils.parametrizations.weight_norm``): ``weight = g * v / ||v||``."""
from __future__ import annotations

import warnings

from ... import _ops as O
from ..._tensor import Tensor
from ..parameter import Parameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm", "norm_except_dim"]


def norm_except_dim(v, pow=2, dim=0):  # noqa: A002
    """The ``pow``-norm of ``v`` over every dim but ``dim``, shaped to broadcast against ``v``; ``dim=-1`` is
    the norm of the whole tensor (torch's convention)."""
    if dim == -1:
        return O.norm(v, pow)
    if not -v.ndim <= dim < v.ndim:
        raise IndexError(f"weight_norm: dim {dim} is out of range for a weight of shape {tuple(v.shape)}")
    dim = dim % v.ndim
    axes = tuple(i for i in range(v.ndim) if i != dim)
    if not axes:
        return O.abs(v) if pow else v
    return O.norm(v, pow, dim=axes, keepdim=True)


def _weight_norm(v, g, dim=0):
    return v * (g / norm_except_dim(v, 2, dim))


class WeightNorm:
    """The forward pre-hook that recomputes ``module.<name>`` from ``<name>_g`` and ``<name>_v``."""

    def __init__(self, name, dim):
        if dim is None:
            dim = -1
        self.name, self.dim = name, dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return _weight_norm(v, g, self.dim)

    @staticmethod
    def apply(module, name, dim):
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"weight_norm: cannot register two weight_norm hooks on the same parameter {name}")
        if dim is None:
            dim = -1
        fn = WeightNorm(name, dim)
        weight = getattr(module, name, None)
        if not isinstance(weight, Parameter):
            raise ValueError(f"weight_norm: module {type(module).__name__} has no parameter named '{name}'")
        del module._parameters[name]
        g = norm_except_dim(weight, 2, dim)
        module.register_parameter(name + "_g", Parameter(Tensor._wrap(g._data.copy())))
        module.register_parameter(name + "_v", Parameter(Tensor._wrap(weight._data)))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        from ...autograd.grad_mode import no_grad

        with no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(Tensor._wrap(weight._data.copy())))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Reparametrize ``module.<name>`` as ``g * v / ||v||`` with new parameters ``<name>_g`` (the norms over every
    dim but ``dim``; ``dim=None`` for one norm of the whole tensor) and ``<name>_v`` (the direction)."""
    warnings.warn(
        "`torch.nn.utils.weight_norm` is deprecated in favor of `torch.nn.utils.parametrizations.weight_norm`.",
        FutureWarning, stacklevel=2,
    )
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    """Fold ``<name>_g`` and ``<name>_v`` back into one parameter ``<name>``."""
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {type(module).__name__}")
