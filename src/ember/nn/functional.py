"""``ember.nn.functional``: the stateless forms of the layers, activations and losses (torch's ``F``).

>>> import ember.nn.functional as F
>>> F.cross_entropy(ember.tensor([[2.0, 0.5, -1.0]]), ember.tensor([0]))
tensor(0.2413)

Most functions are composed from ember's differentiable ops. A few are fused primitives (``Node``
subclasses with forward and backward side by side, written against the ``ns`` namespace so that
``create_graph=True`` still works): ``linear``, ``cross_entropy`` (log-softmax + NLL), ``hardtanh``,
``embedding`` and constant ``pad``.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import _ops as O
from .._random import _gen
from .._tensor import Tensor
from ..autograd.engine import Node, ShownNode
from ..autograd.functional_ns import ARRAY_NS
from . import _fused
from ..autograd.grad_mode import no_grad
from .. import _autocast as _ac

_REDUCTIONS = ("mean", "sum", "none")


# ============================================================================ helpers


def _shape(t):
    return tuple(t.shape)


def _check_tensor(x, name, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be an ember Tensor, not {type(x).__name__}")


def _float_input(x, op):
    _check_tensor(x, "input", op)
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{op}(): expected a floating-point input, got {x.dtype}; convert it with .float()")
    return x


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; use one of {_REDUCTIONS}")


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _const(arr, like):
    return Tensor._wrap(np.asarray(arr, dtype=like._data.dtype))


# ============================================================================ linear layers

_F16 = np.dtype(np.float16)


class _Linear(Node):
    """y = x @ W.T + b in one node (one matmul, one in-place bias add).

    Shown as torch's graph (``name()`` and ``next_functions``): ``AddmmBackward0`` over (bias, x, ``TBackward0``
    over W) for a 2-d input with bias, ``MmBackward0`` without bias; other inputs add torch's reshapes. One
    subclass per (input ndim, bias) in ``_LINEAR_NODES`` (class-level, so the names outlive a freed node)."""

    _nd, _bias = 2, True
    complex_ok = True
    _shown_structure = True  # next_functions in torch's order, with shown nodes (viz / graph loggers check it)

    @property
    def next_functions(self):
        nf = self.__dict__.get("_shown")
        if nf is None:
            nf = self._shown = self._torch_structure()
        return nf

    def _torch_structure(self):
        nx, nw, nb = Node.next_functions.fget(self)
        nd, bias = self._nd, self._bias
        wt = (ShownNode("TBackward0", (nw,)), 0) if nw[0] is not None else (None, 0)
        if nd != 2 and nx[0] is not None:
            nx = (ShownNode("UnsqueezeBackward0" if nd == 1 and not bias else "ViewBackward0", (nx,)), 0)
        mm = (nb, nx, wt) if bias else (nx, wt)
        if nd == 2:
            return mm
        return ((ShownNode("AddmmBackward0" if bias else "MmBackward0", mm), 0),)

    # what backward reads, as torch's addmm: the weight for the input's gradient, the input for the weight's
    saves = {0: (1,), 1: (0,), 2: ()}

    def forward(self, x, w, b):
        n_in = x.shape[-1]
        self.xs = x.shape
        x2 = x.reshape(-1, n_in) if x.ndim != 2 else x
        if x2.dtype is _F16 and w.dtype is _F16:  # float32 accumulation, one rounding (torch's CPU half addmm)
            out = np.matmul(x2.astype(np.float32), w.T.astype(np.float32))
            if b is not None:
                out += b
            out = out.astype(_F16)
        else:
            out = np.matmul(x2, w.T)
            if b is not None:
                out += b
        if x.ndim != 2:
            out = out.reshape(x.shape[:-1] + (w.shape[0],))
        return out

    def backward(self, ns, g, ins, out):
        x, w, _ = ins
        need = self.needs
        xs = tuple(self.xs)
        n_out = g.shape[-1]
        g2 = ns.reshape(g, (-1, n_out)) if len(xs) != 2 else g
        gx = gw = gb = None
        if need[0]:
            gx = ns.matmul(g2, ns.conj(w))  # conj: torch's gradient for complex operands (a no-op for real ones)
            if len(xs) != 2:
                gx = ns.reshape(gx, xs)
        if need[1]:
            x2 = ns.reshape(x, (-1, xs[-1])) if len(xs) != 2 else x
            gw = ns.matmul(ns.swap_last(g2), ns.conj(x2))
        if len(need) > 2 and need[2]:
            gb = _fused._colsum(g2) if ns is ARRAY_NS else ns.sum(g2, 0)
        return gx, gw, gb


_LINEAR_NAMES = {(1, True): "ViewBackward0", (1, False): "SqueezeBackward4", (2, True): "AddmmBackward0",
                 (2, False): "MmBackward0", (3, True): "ViewBackward0", (3, False): "UnsafeViewBackward0"}
_LINEAR_NODES = {k: type(f"_Linear{k[0]}{'b' if k[1] else ''}", (_Linear,), {"name": n, "_nd": k[0], "_bias": k[1]})
                 for k, n in _LINEAR_NAMES.items()}  # key: (min(input ndim, 3), has bias)


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias, for input of shape (*, in_features) and weight (out_features, in_features)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list
        return _ac.run(_ac.LOWER, linear, input, weight, bias)
    _check_tensor(input, "input", "linear")
    _check_tensor(weight, "weight", "linear")
    if weight.ndim != 2:
        raise RuntimeError(f"linear: weight must be 2-D (out_features, in_features), got shape {_shape(weight)}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise RuntimeError(
            f"linear: input of shape {_shape(input)} cannot be multiplied with weight of shape {_shape(weight)}: "
            f"the last dimension of the input must be in_features={weight.shape[1]}"
        )
    if input._data.dtype != weight._data.dtype:
        raise RuntimeError(
            f"linear: input dtype {input.dtype} and weight dtype {weight.dtype} differ; convert the input "
            f"(input.to({weight.dtype})) or the module (model.to({input.dtype}))"
        )
    if bias is not None:
        _check_tensor(bias, "bias", "linear")
        if _shape(bias) not in ((weight.shape[0],), ()):
            raise RuntimeError(f"linear: bias must have shape ({weight.shape[0]},), got {_shape(bias)}")
    nd = input._data.ndim
    return _LINEAR_NODES[(nd if nd < 3 else 3, bias is not None)]()(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """y_k = input1 @ weight[k] @ input2 + bias_k, for inputs (*, in1), (*, in2) and weight (out, in1, in2)."""
    if weight.ndim != 3:
        raise RuntimeError(f"bilinear: weight must be 3-D (out, in1, in2), got shape {_shape(weight)}")
    out_f, in1, in2 = _shape(weight)
    if input1.shape[-1] != in1 or input2.shape[-1] != in2 or _shape(input1)[:-1] != _shape(input2)[:-1]:
        raise RuntimeError(
            f"bilinear: inputs of shapes {_shape(input1)} and {_shape(input2)} do not match weight {_shape(weight)}: "
            f"expected (*, {in1}) and (*, {in2}) with the same leading dimensions"
        )
    lead = _shape(input1)[:-1]
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    wm = weight.permute(1, 0, 2).reshape(in1, out_f * in2)
    t = O.matmul(x1, wm).reshape(-1, out_f, in2)
    y = (t * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(lead + (out_f,))


# ============================================================================ activations


def _inplace(input, fn):
    """``inplace=True``: write ``fn(input)`` into ``input`` and return it, as torch (autograd records the copy like
    torch's in-place ops: a leaf that requires grad raises, a value another node saved is version-checked)."""
    src = input.clone() if input.requires_grad else input
    out = fn(src)
    if input.requires_grad:
        input.copy_(out)
    else:
        with no_grad():
            input.copy_(out)
    return input


def relu(input, inplace=False):
    """max(x, 0)."""
    if inplace:
        return input.relu_()
    return O.relu(input)


def relu_(input):
    return input.relu_()


class _Hardtanh(Node):
    """clamp(x, lo, hi) with torch's gradient: zero at and beyond the bounds."""

    def name(self):
        return "HardtanhBackward"

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return np.clip(x, self.lo, self.hi).astype(x.dtype, copy=False)

    def backward(self, ns, g, ins, out):
        x = ns.value(ins[0])
        m = (x > self.lo) & (x < self.hi)
        return (ns.where(m, g, 0 * g),)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp(x, min_val, max_val) (gradient 0 outside the open interval)."""
    if inplace:
        return _inplace(input, lambda x: hardtanh(x, min_val, max_val))
    _float_input(input, "hardtanh")
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return _Hardtanh(min_val, max_val)(input)


def relu6(input, inplace=False):
    """min(max(x, 0), 6)."""
    if inplace:
        return _inplace(input, relu6)
    return hardtanh(input, 0.0, 6.0)


def _half_in_float32(f, input, *args):
    """torch's CPU kernels compute a float16 activation (and its backward) in float32 and round once; composed of
    several ember ops, it would round after each: run the composition on the float32 copy and round the result."""
    if input._data.dtype == np.float16:
        return f(input.float(), *args).half()
    return None


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope * x."""
    if inplace:
        return _inplace(input, lambda x: leaky_relu(x, negative_slope))
    _float_input(input, "leaky_relu")
    r = _half_in_float32(leaky_relu, input, negative_slope)
    if r is not None:
        return r
    return O.where(input._data > 0, input, input * negative_slope)


def elu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    if inplace:
        return _inplace(input, lambda x: elu(x, alpha))
    _float_input(input, "elu")
    r = _half_in_float32(elu, input, alpha)
    if r is not None:
        return r
    neg = O.expm1(O.clamp(input, max=0.0)) * alpha
    return O.where(input._data > 0, input, neg)


def selu(input, inplace=False):
    if inplace:
        return _inplace(input, selu)
    r = _half_in_float32(selu, input) if isinstance(input, Tensor) else None
    if r is not None:
        return r
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946
    return elu(input, alpha) * scale


def celu(input, alpha=1.0, inplace=False):
    if inplace:
        return _inplace(input, lambda x: celu(x, alpha))
    _float_input(input, "celu")
    if alpha == 0:
        raise RuntimeError("celu: alpha cannot be 0 (CELU divides by it); use relu for the alpha -> 0 limit")
    r = _half_in_float32(celu, input, alpha)
    if r is not None:
        return r
    neg = O.expm1(O.clamp(input, max=0.0) / alpha) * alpha
    return O.where(input._data > 0, input, neg)


def gelu(input, approximate="none"):
    """x * Phi(x); ``approximate='tanh'`` uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). One fused node."""
    _float_input(input, "gelu")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _fused.gelu(input, approximate)


def sigmoid(input):
    return O.sigmoid(input)


def tanh(input):
    return O.tanh(input)


def silu(input, inplace=False):
    """x * sigmoid(x) (one fused node)."""
    if inplace:
        return _inplace(input, silu)
    _float_input(input, "silu")
    return _fused.silu(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, and x where beta x > threshold (stable for large |x|; one fused node)."""
    _float_input(input, "softplus")
    return _fused.softplus(input, beta, threshold)


def mish(input, inplace=False):
    """x * tanh(softplus(x)) (one fused node)."""
    if inplace:
        return _inplace(input, mish)
    _float_input(input, "mish")
    return _fused.mish(input)


def logsigmoid(input):
    """log(sigmoid(x)), stable: min(x, 0) - log1p(exp(-|x|))."""
    _float_input(input, "logsigmoid")
    r = _half_in_float32(logsigmoid, input)
    if r is not None:
        return r
    return O.minimum(input, O.zeros_like(input)) - O.log1p(O.exp(-O.abs(input)))


def hardsigmoid(input, inplace=False):
    if inplace:
        return _inplace(input, hardsigmoid)
    r = _half_in_float32(hardsigmoid, input) if isinstance(input, Tensor) else None
    if r is not None:
        return r
    return hardtanh(input / 6.0 + 0.5, 0.0, 1.0)


def hardswish(input, inplace=False):
    if inplace:
        return _inplace(input, hardswish)
    r = _half_in_float32(hardswish, input) if isinstance(input, Tensor) else None
    if r is not None:
        return r
    return input * hardsigmoid(input)


def softsign(input):
    return input / (O.abs(input) + 1)


def tanhshrink(input):
    return input - O.tanh(input)


def threshold(input, threshold, value, inplace=False):
    """``value`` where x <= threshold, else x."""
    if inplace:
        return _inplace(input, lambda x: _threshold(x, threshold, value))
    return _threshold(input, threshold, value)


def _threshold(input, threshold, value):
    return O.where(input._data > threshold, input, O.full_like(input, value))


def _softmax_dim(ndim, name):
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning, stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def _softmax(input, dim, dtype, fused, composed):
    """The fused node for a float input of at least 1 dim and an int dim; ember's op otherwise (casts,
    0-d inputs and the error messages)."""
    if (dtype is None and isinstance(input, Tensor) and input.ndim > 0 and input._data.dtype.kind == "f"
            and isinstance(dim, numbers.Integral) and -input.ndim <= dim < input.ndim):
        return fused(input, int(dim) % input.ndim)
    return composed(input, dim, dtype=dtype)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (stable for large logits)."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "softmax")
    return _softmax(input, dim, dtype, _fused.softmax, O.softmax)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim(input.ndim, "softmin")
    return O.softmax(-input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """log(softmax(x)) along ``dim``, computed stably (finite and exact at logits of +-1e4)."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "log_softmax")
    return _softmax(input, dim, dtype, _fused.log_softmax, O.log_softmax)


def logsumexp(input, dim, keepdim=False):
    return O.logsumexp(input, dim, keepdim)


def glu(input, dim=-1):
    a, b = O.chunk(input, 2, dim)
    return a * O.sigmoid(b)


# ============================================================================ dropout


def _check_p(p, op):
    if not isinstance(p, numbers.Real) or p < 0 or p > 1:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def _dropout_mask(shape, p, dtype, generator=None):
    keep = _gen(generator).np.random(shape) >= p
    return (keep * (1.0 / (1.0 - p))).astype(dtype, copy=False)


def dropout(input, p=0.5, training=True, inplace=False, generator=None):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (only when ``training``)."""
    if inplace:
        return _inplace(input, lambda x: dropout(x, p, training, False, generator))
    _check_p(p, "dropout")
    _check_tensor(input, "input", "dropout")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    return input * Tensor._wrap(_dropout_mask(input._data.shape, p, input._data.dtype, generator))


def _feature_dropout(input, p, training, op, min_dim, generator=None):
    _check_p(p, op)
    if input.ndim < min_dim:
        raise RuntimeError(f"{op}: expected an input with at least {min_dim} dimensions (N, C, ...), got shape {_shape(input)}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    mshape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    return input * Tensor._wrap(_dropout_mask(mshape, p, input._data.dtype, generator))


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels (dim 1) of an (N, C, L) or unbatched (C, L) input with probability ``p``."""
    if inplace:
        return _inplace(input, lambda x: dropout1d(x, p, training))
    _check_p(p, "dropout1d")
    _check_tensor(input, "input", "dropout1d")
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input (N, C, L) or (C, L), but received a {input.ndim}D input of shape "
            f"{_shape(input)}"
        )
    if input.ndim == 2:
        return _feature_dropout(input.unsqueeze(0), p, training, "dropout1d", 2).squeeze(0)
    return _feature_dropout(input, p, training, "dropout1d", 2)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels (dim 1) of an (N, C, H, W) input with probability ``p`` (other ranks warn like torch
    and drop along dims 0 and 1)."""
    if inplace:
        return _inplace(input, lambda x: dropout2d(x, p, training))
    _check_p(p, "dropout2d")
    _check_tensor(input, "input", "dropout2d")
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will result in an "
            "error in a future release. To retain the behavior and silence this warning, please use dropout instead. "
            "Note that dropout2d exists to provide channel-wise dropout on inputs with 2 spatial dimensions, a "
            "channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).", stacklevel=2,
        )
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
            "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will change "
            "in a future release to interpret the input as one without a batch dimension, i.e. shape (C, H, W). To "
            "maintain the 1D channel-wise dropout behavior, please switch to using dropout1d instead.", stacklevel=2,
        )
    return _feature_dropout(input, p, training, "dropout2d", 2)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels (dim 1) of an (N, C, D, H, W) or unbatched (C, D, H, W) input with probability ``p``."""
    if inplace:
        return _inplace(input, lambda x: dropout3d(x, p, training))
    _check_p(p, "dropout3d")
    _check_tensor(input, "input", "dropout3d")
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and will result in an "
            "error in a future release. To retain the behavior and silence this warning, please use dropout instead. "
            "Note that dropout3d exists to provide channel-wise dropout on inputs with 3 spatial dimensions, a "
            "channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).", stacklevel=2,
        )
    if input.ndim != 5:
        return _feature_dropout(input.unsqueeze(0), p, training, "dropout3d", 2).squeeze(0)
    return _feature_dropout(input, p, training, "dropout3d", 2)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    if inplace:
        return _inplace(input, lambda x: alpha_dropout(x, p, training))
    _check_p(p, "alpha_dropout")
    if not training or p == 0:
        return input
    alpha_p = -1.7580993408473766
    keep = _gen(None).np.random(input._data.shape) >= p
    a = ((1 - p) * (1 + p * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * p
    k = Tensor._wrap(keep.astype(input._data.dtype))
    return (input * k + (1 - k) * alpha_p) * a + b


# ============================================================================ embedding and one-hot


class _Embedding(Node):
    needs_inputs = False

    def name(self):
        return "EmbeddingBackward"

    def __init__(self, idx, padding_idx, scale_grad_by_freq=False):
        self.idx, self.padding_idx, self.scale_grad_by_freq = idx, padding_idx, scale_grad_by_freq

    def forward(self, w):
        self.wshape = w.shape
        return w[self.idx]

    def backward(self, ns, g, ins, out):
        gw = ns.index_zeros(self.wshape, (self.idx,), g)
        if self.scale_grad_by_freq:  # each row's gradient divided by how often the input picks it (as torch)
            counts = np.bincount(self.idx.ravel(), minlength=self.wshape[0]).reshape(-1, 1)
            if isinstance(gw, Tensor):  # create_graph: torch's double backward does not scale (a constant shift)
                gw = gw + Tensor._wrap(gw._data * (1.0 / np.maximum(counts, 1) - 1).astype(gw._data.dtype))
            else:
                gw = gw * (1.0 / np.maximum(counts, 1)).astype(gw.dtype)
        if self.padding_idx is not None:
            keep = np.ones((self.wshape[0], 1), dtype=bool)
            keep[self.padding_idx] = False
            gw = ns.where(keep, gw, 0 * gw)
        return (gw,)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` picked by the integer tensor ``input`` (output shape: input.shape + (dim,))."""
    _check_tensor(weight, "weight", "embedding")
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(
            f"embedding: expected an integer index tensor (int64), got {idx.dtype}; convert it with .long()"
        )
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.min() if idx.min() < 0 else idx.max())
        raise IndexError(
            f"embedding: index {bad} is out of range: indices must be in [0, {n - 1}] for an embedding table "
            f"with num_embeddings={n}"
        )
    if padding_idx is not None:
        if padding_idx < 0:
            padding_idx += n
        if not 0 <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx must be within num_embeddings ({n})")
    if max_norm is not None:
        with no_grad():
            rows = np.unique(idx)
            w = weight._data
            norms = np.linalg.norm(w[rows].astype(np.float64), ord=norm_type, axis=1)
            scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
            if (scale != 1.0).any():
                w[rows] = (w[rows] * scale[:, None]).astype(w.dtype)
                weight._bump()
    return _Embedding(idx, padding_idx, bool(scale_grad_by_freq))(weight)


def one_hot(tensor, num_classes=-1):
    """int64 one-hot encoding with a new last dimension of size ``num_classes``."""
    return O.one_hot(tensor, num_classes)


# ============================================================================ padding


class _PadConstant(Node):
    needs_inputs = False
    complex_ok = True  # moves values only

    def name(self):
        return "ConstantPadNdBackward"

    def __init__(self, widths, value):
        self.widths, self.value = widths, value

    def forward(self, x):
        self.slices = tuple(slice(lo, lo + s) for (lo, _), s in zip(self.widths, x.shape))
        return np.pad(x, self.widths, mode="constant", constant_values=self.value)

    def backward(self, ns, g, ins, out):
        return (ns.index(g, self.slices),)


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)`` from the last dim
    backwards. Modes: 'constant' (negative widths crop), 'reflect', 'replicate', 'circular'."""
    if _ac.armed and _ac._state.on and mode in ("reflect", "replicate"):  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, globals()["pad"], input, pad, mode, value)  # (the argument `pad` hides the function)
    _check_tensor(input, "input", "pad")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise ValueError(f"pad: padding length must be divisible by 2, got {len(pad)} values {pad}")
    k = len(pad) // 2
    if k > input.ndim:
        raise ValueError(f"pad: padding {pad} covers {k} dimensions but the input has only {input.ndim} (shape {_shape(input)})")
    widths = [(0, 0)] * input.ndim
    for i in range(k):
        widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode == "constant":
        x = input
        if any(lo < 0 or hi < 0 for lo, hi in widths):
            sl = tuple(slice(max(-lo, 0), s - max(-hi, 0)) for (lo, hi), s in zip(widths, input.shape))
            x = x[sl]
            widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
        v = 0.0 if value is None else value
        if all(lo == 0 and hi == 0 for lo, hi in widths):
            return x
        return _PadConstant(tuple(widths), v)(x)
    if value not in (None, 0, 0.0):
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode {mode!r} is not supported; use 'constant', 'reflect', 'replicate' or 'circular'")
    if not (1 <= k <= 3 and input.ndim in (k + 1, k + 2)):
        raise NotImplementedError(
            f"pad: padding size {len(pad)} is not supported for {input.ndim}-D input of shape {_shape(input)} in "
            f"{mode!r} mode: pad the last dimension of a 2-D/3-D input (2 values), the last two of a 3-D/4-D input "
            f"(4 values) or the last three of a 4-D/5-D input (6 values)"
        )
    out = input
    for d, (lo, hi) in enumerate(widths):
        if lo == 0 and hi == 0:
            continue
        n = input.shape[d]
        if mode == "circular" and (lo < 0 or hi < 0):  # negative widths crop first; the rest wraps the cropped part
            if lo > n or hi > n:
                raise ValueError("pad: padding value causes wrapping around more than once in circular mode")
            out = O.narrow(out, d, max(-lo, 0), n - max(-lo, 0) - max(-hi, 0))
            lo, hi, n = max(lo, 0), max(hi, 0), out.shape[d]
            if lo == 0 and hi == 0:
                continue
        if n + lo + hi < 1:
            raise RuntimeError(f"pad: input dimension {d} of size {n} is too small for padding ({lo}, {hi}) in "
                               f"{mode!r} mode: the output size would be {n + lo + hi}")
        j = np.arange(-lo, n + hi)  # negative widths crop (as torch)
        if mode == "reflect":
            if lo >= n or hi >= n:
                raise ValueError(
                    f"pad: padding size should be less than the corresponding input dimension for reflect mode, "
                    f"but got padding ({lo}, {hi}) at dimension {d} of input {_shape(input)}"
                )
            j = np.abs(j)
            j = np.where(j > n - 1, 2 * (n - 1) - j, j)
        elif mode == "replicate":
            j = np.clip(j, 0, n - 1)
        else:
            if lo > n or hi > n:
                raise ValueError("pad: padding value causes wrapping around more than once in circular mode")
            j = j % n
        out = O.index_select(out, d, Tensor._wrap(j.astype(np.int64)))
    return out


# ============================================================================ normalization


def _channel_shape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalize over every dim but the channel dim (1). In training, batch statistics are used and the
    running statistics (if given) are updated in place: ``running = (1 - momentum) * running + momentum * batch``
    with the unbiased batch variance."""
    _float_input(input, "batch_norm")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input with at least 2 dimensions (N, C, ...), got shape {_shape(input)}")
    c = input.shape[1]
    axes = (0,) + tuple(range(2, input.ndim))
    cs = _channel_shape(input)
    if training:
        count = input._data.size // c
        if count <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input size {_shape(input)}"
            )
        mean = input.mean(axes, keepdim=True)
        xc = input - mean
        var = (xc * xc).mean(axes, keepdim=True)
        if running_mean is not None or running_var is not None:
            with no_grad():
                m = float(momentum)
                if running_mean is not None:
                    rm = running_mean._data
                    rm *= 1 - m
                    rm += m * mean._data.reshape(c).astype(rm.dtype)
                    running_mean._bump()
                if running_var is not None:
                    rv = running_var._data
                    rv *= 1 - m
                    rv += m * (var._data.reshape(c) * (count / (count - 1))).astype(rv.dtype)
                    running_var._bump()
        out = xc * O.rsqrt(var + eps)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm: running_mean and running_var are required when training=False")
        scale = Tensor._wrap((1.0 / np.sqrt(running_var._data.astype(np.float64) + eps)).astype(input._data.dtype))
        out = (input - running_mean.reshape(cs)) * scale.reshape(cs) if not running_mean.requires_grad else (
            (input - running_mean.reshape(cs)) * O.rsqrt(running_var.reshape(cs) + eps))
    if weight is not None:
        out = out * weight.reshape(cs)
    if bias is not None:
        out = out + bias.reshape(cs)
    return out


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the last ``len(normalized_shape)`` dims, then scale by ``weight`` and shift by ``bias``."""
    _float_input(input, "layer_norm")
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    ns_ = tuple(normalized_shape)
    k = len(ns_)
    if k == 0 or _shape(input)[-k:] != ns_ or input.ndim < k:
        raise RuntimeError(
            f"layer_norm: expected an input with shape [*, {', '.join(map(str, ns_))}] (normalized_shape={list(ns_)}), "
            f"got shape {_shape(input)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and _shape(t) != ns_:
            raise RuntimeError(
                f"layer_norm: {name} must have the normalized shape {list(ns_)}, got {list(_shape(t))}"
            )
    out = _fused.layer_norm(input, k, weight, bias, eps)
    if out is not None:
        return out
    axes = tuple(range(input.ndim - k, input.ndim))  # empty input: composed ops
    mean = input.mean(axes, keepdim=True)
    xc = input - mean
    var = (xc * xc).mean(axes, keepdim=True)
    out = xc * O.rsqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize over groups of channels: input (N, C, *) is split into ``num_groups`` groups along C."""
    _float_input(input, "group_norm")
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: expected an input with at least 2 dimensions (N, C, ...), got {_shape(input)}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise RuntimeError(
            f"group_norm: the number of channels ({c}) must be divisible by num_groups ({num_groups})"
        )
    x = input.reshape(n, num_groups, -1)
    mean = x.mean(2, keepdim=True)
    xc = x - mean
    var = (xc * xc).mean(2, keepdim=True)
    out = (xc * O.rsqrt(var + eps)).reshape(_shape(input))
    cs = _channel_shape(input)
    if weight is not None:
        out = out * weight.reshape(cs)
    if bias is not None:
        out = out + bias.reshape(cs)
    return out


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalize each (sample, channel) over its spatial dims; with ``use_input_stats=False`` use the running
    statistics instead. Given running stats and ``use_input_stats``, they are updated in place with the batch
    average of the per-instance mean and unbiased variance (torch's rule)."""
    _float_input(input, "instance_norm")
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected an input of shape (N, C, *) with spatial dims, got {_shape(input)}")
    if use_input_stats:
        if math.prod(_shape(input)[2:]) == 1:  # as torch: one element per instance normalizes to zeros
            raise ValueError(f"instance_norm: expected more than 1 spatial element when training, got input {_shape(input)}")
        if running_mean is not None or running_var is not None:
            a = input._data.reshape(input.shape[0], input.shape[1], -1).astype(np.float64)
            with no_grad():
                if running_mean is not None:
                    rm = running_mean._data
                    rm[...] = ((1 - momentum) * rm + momentum * a.mean(2).mean(0)).astype(rm.dtype)
                    running_mean._bump()
                if running_var is not None:
                    rv = running_var._data
                    rv[...] = ((1 - momentum) * rv + momentum * a.var(2, ddof=1).mean(0)).astype(rv.dtype)
                    running_var._bump()
        return group_norm(input, input.shape[1], weight, bias, eps)
    if running_mean is None or running_var is None:
        raise ValueError("instance_norm: use_input_stats=False needs running_mean and running_var")
    shp = _channel_shape(input)
    out = (input - running_mean.reshape(shp)) * O.rsqrt(running_var.reshape(shp) + eps)
    if weight is not None:
        out = out * weight.reshape(shp)
    if bias is not None:
        out = out + bias.reshape(shp)
    return out


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p, eps) along ``dim``."""
    _float_input(input, "normalize")
    n = O.norm(input, p, dim, keepdim=True)
    return input / O.clamp(n, min=eps)


cosine_similarity = O.cosine_similarity  # in the core (ember.cosine_similarity); the core never imports nn


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    return O.norm(x1 - x2 + eps, p, -1, keepdim=keepdim)


# ============================================================================ losses


class _TargetLogp:
    """``logp[rows, ts]`` of log-probabilities s - lse without forming them: (s[rows, ts] - lse[:, 0])."""

    def __init__(self, s, lse):
        self.s, self.lse = s, lse

    def __getitem__(self, idx):
        rows, ts = idx
        return self.s[rows, ts] - self.lse[:, 0]


class _CrossEntropy(Node):
    """log-softmax + (weighted, label-smoothed) NLL over class indices, fused.

    Input x: (M, C) logits; the targets, weights and reduction are constants of the node."""

    # torch's graph: NllLossBackward0 (NllLoss2DBackward0 for (N, C, d1, ...) input) over LogSoftmaxBackward0;
    # with label smoothing torch composes several nodes, shown here as one. Subclasses below set the name.
    name = "AddBackward0"  # torch: label-smoothed cross_entropy ends in the sum of the two weighted terms
    _shows_log_softmax = False

    def __init__(self, target, weight, ignore_index, smoothing, reduction):
        self.target, self.weight, self.ignore_index = target, weight, ignore_index
        self.eps, self.reduction = smoothing, reduction

    @property
    def next_functions(self):
        nf = Node.next_functions.fget(self)
        if not self._shows_log_softmax or nf[0][0] is None:
            return nf
        shown = self.__dict__.get("_shown")
        if shown is None:
            shown = self._shown = ((ShownNode("LogSoftmaxBackward0", nf), 0),)
        return shown

    def forward(self, x):
        m_, c = x.shape
        mx = x.max(axis=1, keepdims=True) if x.size else np.zeros((m_, 1), x.dtype)
        s = x - mx
        if self.eps == 0 and x.dtype in (np.float32, np.float64) and c > 1:
            # no (M, C) log-probabilities: the row sums as a GEMV, then only the targets' entries are read
            e = np.exp(s)
            lse = np.log(_fused._rowsum(e))
            logp = _TargetLogp(s, lse)
        else:
            lse = np.log(np.exp(s).sum(axis=1, keepdims=True))
            logp = s - lse
        # backward recomputes the probabilities from the input (which the node keeps anyway, for double
        # backward) and the per-row log-sum-exp: no second (M, C) array is held, as torch's graph holds one
        self.mx, self.lse = mx, lse  # apart: lse + mx would lose lse's precision next to huge logits
        self.shape = (m_, c)
        t = self.target
        valid = t != self.ignore_index
        ts = np.where(valid, t, 0)
        self.ts = ts
        rows = np.arange(m_)
        w = self.weight
        wt = (w[ts] if w is not None else np.ones(m_, dtype=x.dtype)) * valid
        nll = -logp[rows, ts] * wt
        eps = self.eps
        if eps > 0:
            smooth = -(logp * w).sum(axis=1) if w is not None else -logp.sum(axis=1)
            loss = (1 - eps) * nll + (eps / c) * smooth * valid
        else:
            loss = nll
        self.wt = wt.astype(x.dtype, copy=False)
        self.valid = valid
        if self.reduction == "none":
            return loss.astype(x.dtype, copy=False)
        total = loss.sum(dtype=np.float64)
        if self.reduction == "sum":
            return np.asarray(total, dtype=x.dtype)
        denom = float(wt.sum(dtype=np.float64))
        self.denom = denom
        return np.asarray(total / denom if denom != 0 else np.nan, dtype=x.dtype)

    def _coef(self, ns, g, m_):
        if self.reduction == "none":
            return ns.reshape(g, (m_, 1))
        if self.reduction == "sum":
            return g
        return g / self.denom if self.denom else 0 * g  # every target ignored: nan loss, zero gradient (torch)

    def backward(self, ns, g, ins, out):
        # d loss_i / d x_ik = p_ik * A_i - B_ik with
        # A_i = valid_i ((1 - eps) w_t + eps W / C),  B_ik = valid_i ((1 - eps) w_t [k = t] + eps w_k / C)
        m_, c = self.shape
        eps = self.eps
        w = self.weight
        wsum = float(w.sum()) if w is not None else float(c)
        a = self.wt * (1 - eps)
        if eps > 0:
            a = a + self.valid * (eps * wsum / c)
        rows = np.arange(m_)
        x = ins[0]
        if isinstance(x, Tensor):  # create_graph: build the gradient with recorded ops
            p = O.softmax(x, 1)
            b = np.zeros((m_, c), dtype=x._data.dtype)
            b[rows, self.ts] = (1 - eps) * self.wt
            if eps > 0:
                b += (self.valid[:, None] * (eps / c)) * (w[None, :] if w is not None else 1.0)
            grad = p * Tensor._wrap(a.astype(b.dtype)[:, None]) - Tensor._wrap(b)
            return (grad * self._coef(ns, g, m_),)
        p = np.subtract(x, self.mx, dtype=x.dtype)
        p -= self.lse
        np.exp(p, out=p)
        if self.reduction == "none":
            coef = g.reshape(m_, 1)
            p *= a[:, None] * coef
            p[rows, self.ts] -= (1 - eps) * self.wt * coef[:, 0]
            if eps > 0:
                p -= (self.valid[:, None] * (eps / c)) * (w[None, :] if w is not None else 1.0) * coef
        else:
            coef = g if self.reduction == "sum" else (g / self.denom if self.denom else 0 * g)
            p *= a[:, None] * coef
            p[rows, self.ts] -= (1 - eps) * self.wt * coef
            if eps > 0:
                p -= (self.valid[:, None] * (eps / c * coef)) * (w[None, :] if w is not None else 1.0)
        return (p,)


def _class_target(input, target, op, ignore_index):
    """Check a class-index target against an (N, C, d1...) / (C,) input; returns (logits (M, C), labels (M,))."""
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be an ember Tensor of class indices, got {type(target).__name__}")
    t = target._data
    if t.dtype.kind == "f":
        raise RuntimeError(
            f"{op}: expected the target to hold integer class indices (int64), got {target.dtype} with shape "
            f"{_shape(target)} for input {_shape(input)}. Convert labels with target.long(); for class "
            "probabilities pass a float target with the same shape as the input."
        )
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected an integer (int64) target, got {target.dtype}; use target.long()")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have at least 1 dimension (C,) or (N, C, ...), got a 0-d tensor")
    if input.ndim == 1:
        c = input.shape[0]
        if t.ndim != 0:
            raise ValueError(
                f"{op}: an unbatched input of shape {_shape(input)} needs a 0-d target, got shape {_shape(target)}"
            )
        x2, t2 = input.reshape(1, c), t.reshape(1)
    else:
        n, c = input.shape[0], input.shape[1]
        want = (n,) + _shape(input)[2:]
        if t.shape != want:
            raise ValueError(
                f"{op}: expected target of shape {want} for input of shape {_shape(input)} (N, C, d1, ...), "
                f"got target shape {_shape(target)}"
            )
        if input.ndim == 2:
            x2, t2 = input, t
        else:
            perm = (0,) + tuple(range(2, input.ndim)) + (1,)
            x2, t2 = input.permute(*perm).reshape(-1, c), t.reshape(-1)
    t2 = t2.astype(np.int64, copy=False)
    if t2.size:
        bad = (t2 != ignore_index) & ((t2 < 0) | (t2 >= c))
        if bad.any():
            v = int(t2[bad][0])
            raise IndexError(
                f"{op}: target {v} is out of bounds: class indices must be in [0, {c - 1}] for an input with "
                f"C={c} classes (shape {_shape(input)}). If your labels start at 1, subtract 1; otherwise make "
                f"the model output {int(t2[bad].max()) + 1} classes"
                + (f" (or mark ignored entries with ignore_index={ignore_index})" if ignore_index != -100 else "")
            )
    return x2, t2, c


def _weight_array(weight, c, op, dtype):
    if weight is None:
        return None
    if not isinstance(weight, Tensor) or _shape(weight) != (c,):
        raise RuntimeError(
            f"{op}: weight must be a 1-D tensor of size C={c} (one weight per class), got "
            f"{_shape(weight) if isinstance(weight, Tensor) else type(weight).__name__}"
        )
    return weight._data.astype(dtype, copy=False)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits ``input`` (N, C, d1, ...) and class indices (N, d1, ...) or class
    probabilities (same shape as input). ``weight`` per class, ``ignore_index``, ``label_smoothing`` in [0, 1]."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, cross_entropy, input, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "cross_entropy"
    _float_input(input, op)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; use one of {_REDUCTIONS}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if isinstance(target, Tensor) and target._data.dtype.kind == "f" and _shape(target) == _shape(input):
        if ignore_index != -100:
            raise RuntimeError(f"{op}: ignore_index is not supported for floating point (class-probability) "
                               f"targets, got ignore_index={ignore_index}; zero those rows' targets instead")
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    x2, t2, c = _class_target(input, target, op, ignore_index)
    w = _weight_array(weight, c, op, input._data.dtype)
    cls = _CrossEntropy if label_smoothing > 0 else _NllLoss if input._data.ndim <= 2 else _NllLoss2d
    loss = cls(t2, w, ignore_index, float(label_smoothing), reduction)(x2)
    if reduction == "none":
        if input.ndim == 1:
            return loss.reshape(())
        return loss.reshape((input.shape[0],) + _shape(input)[2:])
    return loss


class _NllLoss(_CrossEntropy):
    name = "NllLossBackward0"
    _shows_log_softmax = _shown_structure = True


class _NllLoss2d(_CrossEntropy):
    name = "NllLoss2DBackward0"
    _shows_log_softmax = _shown_structure = True


def _cross_entropy_probs(input, target, weight, reduction, eps):
    cdim = 0 if input.ndim == 1 else 1
    c = input.shape[cdim]
    logp = O.log_softmax(input, cdim)
    tgt = target
    if eps > 0:
        tgt = target * (1 - eps) + eps / c
    prod = logp * tgt
    if weight is not None:
        w = _weight_array(weight, c, "cross_entropy", input._data.dtype)
        shp = (c,) if input.ndim == 1 else (1, c) + (1,) * (input.ndim - 2)
        prod = prod * Tensor._wrap(w.reshape(shp))
    loss = -prod.sum(cdim)
    if reduction == "mean":
        n = input._data.size // c
        return loss.sum() / n
    return _reduce(loss, reduction, "cross_entropy")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of class indices under log-probabilities ``input`` (N, C, d1, ...)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, nll_loss, input, target, weight, size_average, ignore_index, reduce, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "nll_loss"
    _float_input(input, op)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; use one of {_REDUCTIONS}")
    x2, t2, c = _class_target(input, target, op, ignore_index)
    w = _weight_array(weight, c, op, input._data.dtype)
    valid = t2 != ignore_index
    ts = np.where(valid, t2, 0)
    wt = (w[ts] if w is not None else np.ones(ts.shape, dtype=input._data.dtype)) * valid
    picked = O.gather(x2, 1, Tensor._wrap(ts.reshape(-1, 1))).reshape(-1)
    loss = -picked * Tensor._wrap(wt.astype(input._data.dtype))
    if reduction == "none":
        if input.ndim == 1:
            return loss.reshape(())
        return loss.reshape((input.shape[0],) + _shape(input)[2:])
    if reduction == "sum":
        return loss.sum()
    denom = float(wt.sum())
    if not denom:  # every target ignored: nan loss with a zero gradient, as torch
        return loss.sum() * 0 + Tensor._wrap(np.asarray(np.nan, dtype=input._data.dtype))
    return loss.sum() / denom


def _same_shape(input, target, op):
    _check_tensor(input, "input", op)
    _check_tensor(target, "target", op)
    if _shape(input) != _shape(target):
        try:
            b = np.broadcast_shapes(_shape(input), _shape(target))
            what = f"torch would silently broadcast both to {b} and compute a wrong loss"
        except ValueError:
            what = "they are not even broadcastable"
        raise ValueError(
            f"{op}: input shape {_shape(input)} and target shape {_shape(target)} differ. ember requires equal "
            f"shapes here ({what}). Reshape one of them, e.g. target.view({', '.join(map(str, _shape(input)))}) "
            "or input.squeeze(-1)."
        )
    if target._data.dtype != input._data.dtype and target._data.dtype.kind == "f" and input._data.dtype.kind == "f":
        target = target.to(input.dtype)
    return target


class _MseLoss(Node):
    """(input - target)**2, reduced, in one node (torch's ``MseLossBackward0``); float16 accumulates in float32."""

    name = "MseLossBackward0"
    saves = {0: (0, 1), 1: (0, 1)}

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, a, b):
        d = a - b
        self.n = d.size
        if self.reduction == "none":
            return d * d
        if d.dtype == np.float16:
            d = d.astype(np.float32)
        total = np.dot(d.ravel(), d.ravel()) if d.size else d.dtype.type(0)
        if self.reduction == "mean":
            total = total / d.dtype.type(d.size) if d.size else d.dtype.type(np.nan)
        with np.errstate(over="ignore"):  # a float16 sum past 65504 is inf, silently as in torch
            return np.asarray(total, dtype=a.dtype)

    def backward(self, ns, g, ins, out):
        a, b = ins
        d = a - b
        scale = 2.0 / self.n if self.reduction == "mean" else 2.0
        if isinstance(d, np.ndarray) and d.dtype == np.float16:  # as torch: the scale is applied in float32
            gd = (d.astype(np.float32) * (np.asarray(g, np.float32) * np.float32(scale))).astype(np.float16)
        else:
            gd = d * (g * scale)
        need = self.needs
        return (gd if need[0] else None, -gd if need[1] else None)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error. Shapes must match exactly (ember does not broadcast here, unlike torch)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, mse_loss, input, target, size_average, reduce, reduction, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _same_shape(input, target, "mse_loss")
    if input._data.dtype.kind == "c" or target._data.dtype.kind == "c":
        raise RuntimeError("mse_loss: complex tensors are not supported (as in torch); for a complex error use "
                           "(input - target).abs().square().mean()")
    if weight is None and reduction in _REDUCTIONS and input._data.dtype.kind == "f":
        return _MseLoss(reduction)(input, target)
    d = input - target
    loss = d * d
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error (shapes must match); with ``weight`` (input's shape), the weighted errors,
    their sum, or their sum over ``weight.sum()`` (as torch)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, l1_loss, input, target, size_average, reduce, reduction, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _same_shape(input, target, "l1_loss")
    if weight is None:
        return _reduce(O.abs(input - target), reduction, "l1_loss")
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"l1_loss: weight must have the input's shape {tuple(input.shape)}, got {tuple(weight.shape)}")
    err = O.abs(input - target) * weight
    if reduction == "mean":
        return O.sum(err) / O.sum(weight)
    return _reduce(err, reduction, "l1_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta=0 gives the L1 loss)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, smooth_l1_loss, input, target, size_average, reduce, reduction, beta)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _same_shape(input, target, "smooth_l1_loss")
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    d = input - target
    ad = O.abs(d)
    if beta == 0:
        return _reduce(ad, reduction, "smooth_l1_loss")
    loss = O.where(ad._data < beta, d * d * (0.5 / beta), ad - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, huber_loss, input, target, reduction, delta, weight)
    target = _same_shape(input, target, "huber_loss")
    if delta <= 0:
        raise RuntimeError(f"huber_loss: delta must be positive, got {delta}")
    d = input - target
    ad = O.abs(d)
    loss = O.where(ad._data < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "huber_loss")


class _BinaryCrossEntropy(Node):
    """Unreduced -(t log x + (1 - t) log(1 - x)), each log clamped at -100, with torch's gradients:
    d/dx = (x - t) / max(x (1 - x), 1e-12), finite where x is exactly 0 or 1 (a saturated sigmoid);
    d/dt = log(1 - x) - log(x), unclamped as in torch."""

    name = "BinaryCrossEntropyBackward0"
    saves = {0: (0, 1), 1: (0,)}
    EPS = 1e-12

    def forward(self, x, t):
        with np.errstate(divide="ignore"):
            lx = np.maximum(np.log(x), x.dtype.type(-100))
            l1x = np.maximum(np.log1p(-x), x.dtype.type(-100))
        return ((t - 1) * l1x - t * lx).astype(x.dtype, copy=False)

    def backward(self, ns, g, ins, out):
        x, t = ins
        gx = gt = None
        if self.needs[0]:
            den = (1 - x) * x
            den = ns.where(ns.value(den) > self.EPS, den, 0 * den + self.EPS)
            gx = g * (x - t) / den
        if self.needs[1]:
            with np.errstate(divide="ignore"):
                gt = g * (ns.log(1 - x) - ns.log(x))
        return gx, gt


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-w (t log x + (1 - t) log(1 - x)) with each log clamped at -100 (like torch); x must be in [0, 1]."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, binary_cross_entropy, input, target, weight, size_average, reduce, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "binary_cross_entropy"
    _float_input(input, op)
    target = _same_shape(input, target, op)
    x = input._data
    if x.size and ((x < 0).any() or (x > 1).any() or np.isnan(x).any()):
        raise RuntimeError(
            f"{op}: all elements of input should be between 0 and 1 (probabilities), got values in "
            f"[{float(np.nanmin(x))}, {float(np.nanmax(x))}]. Apply sigmoid first, or use "
            "binary_cross_entropy_with_logits on the raw logits (it is also more stable)."
        )
    if target._data.dtype != x.dtype:
        target = target.to(input.dtype)
    loss = _BinaryCrossEntropy()(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, op)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable expression (finite for logits of +-1e4).

    loss = (1 - t) x - (1 + (pos_weight - 1) t) log_sigmoid(x)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, binary_cross_entropy_with_logits, input, target, weight, size_average, reduce, reduction, pos_weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "binary_cross_entropy_with_logits"
    _float_input(input, op)
    target = _same_shape(input, target, op)
    ls = logsigmoid(input)
    if pos_weight is not None:
        lw = (pos_weight - 1) * target + 1
        loss = (1 - target) * input - lw * ls
    else:
        loss = (1 - target) * input - ls
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, op)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: target (log target - input); ``input`` holds log-probabilities.
    ``reduction='batchmean'`` divides the sum by the batch size (the mathematically correct KL)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, kl_div, input, target, size_average, reduce, reduction, log_target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "kl_div"
    _float_input(input, op)
    _check_tensor(target, "target", op)
    if log_target:
        loss = O.exp(target) * (target - input)
    else:
        t = target._data
        with np.errstate(divide="ignore", invalid="ignore"):
            tlogt = Tensor._wrap(np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0).astype(t.dtype))
        if target.requires_grad:
            safe = O.where(t > 0, target, O.ones_like(target))
            tlogt = O.where(t > 0, target * O.log(safe), O.zeros_like(target))
        loss = tlogt - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    if reduction == "mean":
        warnings.warn(
            "kl_div: reduction='mean' divides the total loss by both the batch size and the support size; "
            "'batchmean' divides only by the batch size, and aligns with the math definition of KL divergence.",
            UserWarning, stacklevel=2,
        )
    return _reduce(loss, reduction, op)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, cosine_embedding_loss, input1, input2, target, margin, size_average, reduce, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "cosine_embedding_loss"
    if input1.ndim not in (1, 2) or _shape(input1) != _shape(input2):
        raise RuntimeError(
            f"{op}: expected two inputs of the same shape (N, D) or (D,), got {_shape(input1)} and {_shape(input2)}"
        )
    dim = input1.ndim - 1
    eps = 1e-12
    prod = (input1 * input2).sum(dim)
    m1 = (input1 * input1).sum(dim) + eps
    m2 = (input2 * input2).sum(dim) + eps
    cos = prod / O.sqrt(m1 * m2)
    y = target._data
    if y.shape != tuple(cos.shape):
        raise RuntimeError(f"{op}: target must have shape {tuple(cos.shape)}, got {y.shape}")
    pos = 1 - cos
    neg = O.clamp(cos - margin, min=0.0)
    zero = O.zeros_like(cos)
    loss = O.where(y == 1, pos, O.where(y == -1, neg, zero))
    return _reduce(loss, reduction, op)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, margin_ranking_loss, input1, input2, target, margin, size_average, reduce, reduction)
    loss = O.clamp(-target * (input1 - input2) + margin, min=0.0)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "margin_ranking_loss")


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, hinge_embedding_loss, input, target, margin, size_average, reduce, reduction)
    y = target._data
    loss = O.where(y == 1, input, O.zeros_like(input)) + O.where(
        y == -1, O.clamp(margin - input, min=0.0), O.zeros_like(input))
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "hinge_embedding_loss")


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, soft_margin_loss, input, target, size_average, reduce, reduction)
    loss = softplus(-target * input)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "soft_margin_loss")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    if isinstance(var, numbers.Real) and not isinstance(var, Tensor):
        if var < 0:
            raise ValueError("gaussian_nll_loss: var has negative entry/entries")
        var = O.full(tuple(input.shape), float(var), dtype=input.dtype)
    elif bool(np.any(np.asarray(var.detach().numpy()) < 0)):
        raise ValueError("gaussian_nll_loss: var has negative entry/entries")
    ishape, vshape = tuple(input.shape), tuple(var.shape)
    if vshape != ishape:
        if ishape[:-1] == vshape:  # homoscedastic: one variance per row of the last dimension (as torch)
            var = var.unsqueeze(-1)
        elif not (len(ishape) == len(vshape) and sum(v for i, v in zip(ishape, vshape) if i != v) == 1):
            raise ValueError(f"gaussian_nll_loss: var is of incorrect size {vshape} for input {ishape}: give "
                             f"the input's shape, its shape without the last dimension, or one dimension of size 1")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"gaussian_nll_loss: {reduction} is not valid")
    # torch clamps under no_grad: the gradient reaches var unchanged where var < eps
    vd = var.detach()
    v = var + (O.clamp(vd, min=eps) - vd)
    loss = (O.log(v) + (input - target) ** 2 / v) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, "gaussian_nll_loss")


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, poisson_nll_loss, input, target, log_input, full, size_average, eps, reduce, reduction)
    loss = O.exp(input) - target * input if log_input else input - target * O.log(input + eps)
    if full:  # Stirling's approximation of log(target!), added where target > 1 (as torch)
        t = target.detach() if isinstance(target, Tensor) else O.tensor(target)
        st = t * O.log(O.where(t > 1, t, 1)) - t + 0.5 * O.log(2 * math.pi * O.where(t > 1, t, 1))
        loss = loss + O.where(t > 1, st, 0)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "poisson_nll_loss")


__all__ = [n for n, v in list(globals().items()) if callable(v) and not n.startswith("_") and not isinstance(v, type)
           and getattr(v, "__module__", None) == __name__]

# Convolution, pooling, interpolation, recurrent and attention functionals live in their own files.
from . import _functional_attention, _functional_conv, _functional_ctc, _functional_extra, _functional_more  # noqa: E402
from . import _functional_interp, _functional_pool_extra, _functional_rnn, _functional_fractional  # noqa: E402
from ._functional_attention import *  # noqa: E402,F401,F403
from ._functional_conv import *  # noqa: E402,F401,F403
from ._functional_extra import *  # noqa: E402,F401,F403
from ._functional_more import *  # noqa: E402,F401,F403
from ._functional_ctc import *  # noqa: E402,F401,F403
from ._functional_interp import *  # noqa: E402,F401,F403
from ._functional_rnn import *  # noqa: E402,F401,F403
from ._functional_pool_extra import *  # noqa: E402,F401,F403
from ._functional_fractional import *  # noqa: E402,F401,F403

__all__ += [*_functional_attention.__all__, *_functional_conv.__all__, *_functional_rnn.__all__,
            *_functional_extra.__all__, *_functional_more.__all__,
            *_functional_ctc.__all__, *_functional_interp.__all__, *_functional_pool_extra.__all__,
            *_functional_fractional.__all__]


from . import grad  # noqa: E402,F401  (torch.nn.functional.grad is torch.nn.grad)

from .._compat import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("torch.nn.functional", "ember.nn.functional")  # listed torch names raise a clear error
