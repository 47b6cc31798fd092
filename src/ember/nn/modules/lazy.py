"""Lazy layers: ``LazyConv{1,2,3}d``, ``LazyConvTranspose{1,2,3}d``, ``LazyBatchNorm{1,2,3}d``,
``LazyInstanceNorm{1,2,3}d`` and the ``UninitializedParameter`` / ``UninitializedBuffer`` placeholders.

A lazy layer takes its input size (``in_channels`` / ``num_features``) from the first input: until then
its parameters are ``UninitializedParameter`` placeholders; the first call materializes them with the
inferred shape, runs ``reset_parameters()`` and turns the module into its regular class (``LazyConv2d`` ->
``Conv2d``), as in torch. 3-d variants exist when ember has the 3-d layer they become.

>>> m = ember.nn.LazyConv2d(4, 3)
>>> m(ember.randn(1, 2, 5, 5)).shape, type(m).__name__, m.weight.shape
(ember.Size([1, 4, 3, 3]), 'Conv2d', ember.Size([4, 2, 3, 3]))
"""
from __future__ import annotations

import numpy as np

from ..._tensor import Tensor
from ..parameter import Parameter
from . import conv as _conv
from . import normalization as _norm

__all__ = ["UninitializedParameter", "UninitializedBuffer", "LazyModuleMixin"]


class _UninitializedMixin:
    cls_to_become = None

    def materialize(self, shape, device=None, dtype=None):
        """Give the placeholder real (uninitialised) storage of ``shape`` and make it a regular tensor."""
        if isinstance(shape, int):
            shape = (shape,)
        dt = dtype.np if hasattr(dtype, "np") else np.dtype(dtype or np.float32)
        self._data = np.empty(tuple(shape), dtype=dt)
        self.__class__ = self.cls_to_become

    def __repr__(self):
        return f"<{type(self).__name__}>"

    @property
    def shape(self):
        raise RuntimeError(
            f"{type(self).__name__}: the shape of a lazy module's parameter is unknown until the module has run on "
            "a first input; call the module once (e.g. on a dummy batch) before using its parameters"
        )


class UninitializedParameter(_UninitializedMixin, Parameter):
    """A parameter whose shape is not known yet (see the lazy modules)."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        return Parameter.__new__(cls, None, requires_grad)

    def __init__(self, requires_grad=True, device=None, dtype=None):
        pass


class UninitializedBuffer(_UninitializedMixin, Tensor):
    """A buffer whose shape is not known yet (see the lazy modules)."""

    cls_to_become = Tensor

    def __new__(cls, requires_grad=False, device=None, dtype=None):
        t = object.__new__(cls)
        t._data = np.zeros(0, dtype=np.float32)
        return t

    def __init__(self, requires_grad=False, device=None, dtype=None):
        pass


class LazyModuleMixin:
    """Shared by the lazy layers: ``has_uninitialized_params()`` and the first-call materialization."""

    cls_to_become = None

    def has_uninitialized_params(self):
        regs = list(self._parameters.values()) + list(self._buffers.values())
        return any(isinstance(t, _UninitializedMixin) for t in regs)

    def _lazy_placeholders(self, names_params, names_buffers=()):
        for n in names_params:
            if self._parameters.get(n) is not None:
                self._parameters[n] = UninitializedParameter()
        for n in names_buffers:
            if self._buffers.get(n) is not None:
                self._buffers[n] = UninitializedBuffer()

    def _materialize(self, shapes, dtype):
        for n, shape in shapes.items():
            for reg in (self._parameters, self._buffers):
                t = reg.get(n)
                if isinstance(t, _UninitializedMixin):
                    t.materialize(shape, dtype=dtype)
        self.reset_parameters()
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become

    def forward(self, *args, **kwargs):
        cls = self.cls_to_become
        if self.has_uninitialized_params():
            self.initialize_parameters(*args, **kwargs)
        self.__class__ = cls   # like torch: even a lazy layer with nothing to infer becomes its regular class
        return cls.forward(self, *args, **kwargs)


def _input_channels(module, x, nd):
    if not isinstance(x, Tensor) or x.ndim not in (nd + 1, nd + 2):
        shape = tuple(getattr(x, "shape", ()))
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {type(module).__name__}, but got input "
            f"of size: {shape}"
        )
    return x.shape[1] if x.ndim == nd + 2 else x.shape[0]


def _lazy_conv(name, base):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, *args, device=None, dtype=None, **kwargs):
        base.__init__(self, 0, out_channels, kernel_size, stride, padding, *args, device=device, dtype=dtype, **kwargs)
        self._lazy_dtype = dtype
        self._lazy_placeholders(("weight", "bias"))

    def initialize_parameters(self, input, *args, **kwargs):
        nd = base._nd
        self.in_channels = _input_channels(self, input, nd)
        if self.in_channels % self.groups:
            raise ValueError(f"{name}: in_channels ({self.in_channels}) must be divisible by groups ({self.groups})")
        if base._transposed:
            wshape = (self.in_channels, self.out_channels // self.groups) + tuple(self.kernel_size)
        else:
            wshape = (self.out_channels, self.in_channels // self.groups) + tuple(self.kernel_size)
        self._materialize({"weight": wshape, "bias": (self.out_channels,)}, self._lazy_dtype or input._data.dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_channels != 0:
            base.reset_parameters(self)

    return type(name, (LazyModuleMixin, base), {
        "__init__": __init__, "initialize_parameters": initialize_parameters, "reset_parameters": reset_parameters,
        "cls_to_become": base, "__doc__": f"A ``{base.__name__}`` whose ``in_channels`` is inferred from the first input.",
    })


def _lazy_norm(name, base, nd):
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None, *,
                 bias=True):
        if "Batch" in name:
            base.__init__(self, 0, eps, momentum, affine, track_running_stats, device=device, dtype=dtype, bias=bias)
        else:
            base.__init__(self, 0, eps, momentum, affine, track_running_stats, device=device, dtype=dtype)
            if not bias and self._parameters.get("bias") is not None:
                self.register_parameter("bias", None)
        self._lazy_dtype = dtype
        self._lazy_placeholders(("weight", "bias"), ("running_mean", "running_var"))

    def initialize_parameters(self, input, *args, **kwargs):
        if not isinstance(input, Tensor) or input.ndim < 2:
            raise RuntimeError(f"{name}: expected an input of shape (N, C, ...), got {tuple(getattr(input, 'shape', ()))}")
        unbatched = getattr(base, "_unbatched", None)
        self.num_features = input.shape[0] if unbatched is not None and input.ndim == unbatched else input.shape[1]
        c = (self.num_features,)
        self._materialize({"weight": c, "bias": c, "running_mean": c, "running_var": c},
                          self._lazy_dtype or input._data.dtype)

    def reset_parameters(self):
        if self.has_uninitialized_params() or self.num_features == 0:
            return
        if hasattr(base, "reset_parameters"):
            base.reset_parameters(self)
        else:
            _norm._reset_affine(self)

    return type(name, (LazyModuleMixin, base), {
        "__init__": __init__, "initialize_parameters": initialize_parameters, "reset_parameters": reset_parameters,
        "cls_to_become": base, "__doc__": f"A ``{base.__name__}`` whose ``num_features`` is inferred from the first input.",
    })


_g = globals()
for _nd in (1, 2, 3):
    for _kind, _mod, _fac in (("Conv", _conv, _lazy_conv), ("ConvTranspose", _conv, _lazy_conv)):
        _base = getattr(_mod, f"{_kind}{_nd}d", None)
        if _base is not None:
            _g[f"Lazy{_kind}{_nd}d"] = _fac(f"Lazy{_kind}{_nd}d", _base)
            __all__.append(f"Lazy{_kind}{_nd}d")
    for _kind in ("BatchNorm", "InstanceNorm"):
        _base = getattr(_norm, f"{_kind}{_nd}d", None)
        if _base is not None:
            _g[f"Lazy{_kind}{_nd}d"] = _lazy_norm(f"Lazy{_kind}{_nd}d", _base, _nd)
            __all__.append(f"Lazy{_kind}{_nd}d")
del _g, _nd, _kind, _mod, _fac, _base
