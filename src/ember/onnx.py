"""``torch.onnx.export`` for ember models: trace one forward pass (eval mode) into an ONNX model.

How the trace works (and why it is robust): during export, ``nn.Module.__call__`` and a small set of
tensor methods / functions are wrapped (restored in ``finally``). A module whose type has an ONNX
mapping (``Linear``, ``Conv2d``, ``BatchNorm2d``, pooling, activations, ``Dropout``...) is run as usual
with recording suspended inside it and emits its ONNX nodes; other modules (containers, your own) are
entered and their children and tensor ops recorded. The inputs are made to require grad while tracing,
so every value computed from them carries a ``grad_fn``: a traced op that meets such a value it has not
seen knows that an op without an ONNX mapping produced it, and the export fails naming that op
(``grad_fn.name()``) and the module path where it ran. Parameters and buffers become initializers.

Needs the ``onnx`` package (``pip install ember[onnx]``). Covered today: MLPs and CNNs (Linear, Conv1d/2d,
BatchNorm1d/2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), Dropout, Flatten, LayerNorm, Embedding,
ReLU/LeakyReLU/ELU/GELU/Tanh/Sigmoid/Softmax/LogSoftmax/Identity, LSTM and GRU called without an initial
state, MultiheadAttention with a constant mask, hence TransformerEncoderLayer/TransformerEncoder) plus
elementwise +,-,*,/, matmul, reshape/view/flatten, transpose/permute, relu/tanh/sigmoid/gelu. A layer
that stored ``F.relu``/``F.gelu`` as its ``activation`` gets the traced version during the export.

Limitation: integer inputs (token ids) do not carry a ``grad_fn``, so an unmapped op applied to them
directly (e.g. slicing the ids) is not detected and would be frozen into a constant; pass ids straight
into ``Embedding`` (mapped) as usual.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings

import numpy as np

__all__ = ["export", "UnsupportedOperatorError"]


class UnsupportedOperatorError(RuntimeError):
    """An op met while tracing has no ONNX mapping in ember's exporter."""


def _require_onnx():
    try:
        import onnx  # noqa: F401
        from onnx import helper, numpy_helper  # noqa: F401
    except ImportError:
        raise ImportError(
            "ember.onnx.export needs the 'onnx' package: pip install 'ember[onnx]' (or pip install onnx; "
            "onnxruntime runs the exported file)"
        ) from None
    return onnx


_DEFAULT_OPSET = 17


class _Tracer:
    def __init__(self, model, onnx):
        from onnx import helper

        self.helper = helper
        self.onnx = onnx
        self.names = {}  # id(tensor) -> value name
        self.keep = []  # tensors kept alive while their ids are keys
        self.nodes = []
        self.inits = []
        self.counter = 0
        self.suspended = 0
        self.path = []
        self.mod_names = {id(m): n for n, m in model.named_modules()}
        self.mod_names[id(model)] = type(model).__name__  # the root is named by its class
        self.const_ids = {}

    def fresh(self, base):
        self.counter += 1
        return f"{base}_{self.counter}"

    def where(self):
        return "/".join(p for p in self.path if p) or "<top level>"

    def const(self, arr, base="const"):
        arr = np.asarray(arr)
        name = self.fresh(base)
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def value(self, x, dtype=None):
        """ONNX value name of a tensor, Python number or array met as an op's operand."""
        from ember import Tensor

        if isinstance(x, Tensor):
            n = self.names.get(id(x))
            if n is not None:
                return n
            if x.grad_fn is not None:
                raise UnsupportedOperatorError(
                    f"ember.onnx.export: the op {x.grad_fn.name()} (in module {self.where()}) has no ONNX mapping "
                    "in ember's exporter: a value of shape "
                    f"{tuple(x.shape)} reached a traced op without passing through a mapped op. Rewrite that part with "
                    "mapped ops (see docs/onnx.md) or export a model without it."
                )
            # a parameter, buffer or constant tensor: an initializer
            n = self.const(x.detach().numpy(), "param")
            self.bind(x, n)
            return n
        a = np.asarray(x, dtype=dtype or np.float32)
        return self.const(a)

    def bind(self, t, name):
        self.names[id(t)] = name
        self.keep.append(t)

    def node(self, op, inputs, out_tensor=None, **attrs):
        out = self.fresh(op.lower())
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=self.fresh(f"{self.where()}/{op}"), **attrs))
        if out_tensor is not None:
            self.bind(out_tensor, out)
        return out


_T = None  # the active tracer


def _active():
    return _T is not None and _T.suspended == 0


# ---------------------------------------------------------------------------- module handlers


def _ints(v, n):
    return list(v) if isinstance(v, (tuple, list)) else [int(v)] * n


def _linear(t, m, x, y):
    w = t.value(m.weight.detach().t().contiguous())
    out = t.node("MatMul", [t.value(x), w], None if m.bias is not None else y)
    if m.bias is not None:
        t.node("Add", [out, t.value(m.bias)], y)


def _conv(t, m, x, y):
    if getattr(m, "padding_mode", "zeros") != "zeros":
        raise UnsupportedOperatorError(f"ember.onnx.export: {type(m).__name__} with padding_mode="
                                       f"{m.padding_mode!r} (in module {t.where()}) has no ONNX mapping")
    nd = x.dim() - 2
    if isinstance(m.padding, str):
        raise UnsupportedOperatorError(f"ember.onnx.export: {type(m).__name__}(padding={m.padding!r}) (in module "
                                       f"{t.where()}) is not mapped; give the padding as numbers")
    pads = _ints(m.padding, nd)
    ins = [t.value(x), t.value(m.weight)] + ([t.value(m.bias)] if m.bias is not None else [])
    t.node("Conv", ins, y, kernel_shape=_ints(m.kernel_size, nd), strides=_ints(m.stride, nd),
           dilations=_ints(m.dilation, nd), pads=pads + pads, group=int(m.groups))


def _bn(t, m, x, y):
    if m.running_mean is None:
        raise UnsupportedOperatorError(f"ember.onnx.export: {type(m).__name__}(track_running_stats=False) (in module "
                                       f"{t.where()}) normalizes with batch statistics in eval mode; not mapped")
    c = m.num_features
    dt = x.detach().numpy().dtype
    w = t.value(m.weight) if m.weight is not None else t.const(np.ones(c, dt))
    b = t.value(m.bias) if m.bias is not None else t.const(np.zeros(c, dt))
    xin = t.value(x)
    if x.dim() == 2:  # (N, C): ONNX wants a spatial layout
        u = t.node("Unsqueeze", [xin, t.const(np.array([2], np.int64))])
        o = t.node("BatchNormalization", [u, w, b, t.value(m.running_mean), t.value(m.running_var)], epsilon=float(m.eps))
        t.node("Squeeze", [o, t.const(np.array([2], np.int64))], y)
    else:
        t.node("BatchNormalization", [xin, w, b, t.value(m.running_mean), t.value(m.running_var)], y,
               epsilon=float(m.eps))


def _maxpool(t, m, x, y):
    if getattr(m, "return_indices", False):
        raise UnsupportedOperatorError(f"ember.onnx.export: MaxPool with return_indices=True (in module {t.where()})")
    nd = x.dim() - 2
    stride = m.stride if m.stride is not None else m.kernel_size
    pads = _ints(m.padding, nd)
    t.node("MaxPool", [t.value(x)], y, kernel_shape=_ints(m.kernel_size, nd), strides=_ints(stride, nd),
           pads=pads + pads, dilations=_ints(m.dilation, nd), ceil_mode=int(bool(m.ceil_mode)))


def _avgpool(t, m, x, y):
    if m.divisor_override is not None:
        raise UnsupportedOperatorError(f"ember.onnx.export: AvgPool with divisor_override (in module {t.where()})")
    nd = x.dim() - 2
    stride = m.stride if m.stride is not None else m.kernel_size
    pads = _ints(m.padding, nd)
    t.node("AveragePool", [t.value(x)], y, kernel_shape=_ints(m.kernel_size, nd), strides=_ints(stride, nd),
           pads=pads + pads, ceil_mode=int(bool(m.ceil_mode)), count_include_pad=int(bool(m.count_include_pad)))


def _adaptive_avg(t, m, x, y):
    size = m.output_size
    if all(s == 1 for s in _ints(size, x.dim() - 2)):
        t.node("GlobalAveragePool", [t.value(x)], y)
        return
    raise UnsupportedOperatorError(f"ember.onnx.export: {type(m).__name__}(output_size={size}) (in module {t.where()}) "
                                   "is mapped only for output_size 1")


def _unary(op, **attrs):
    def h(t, m, x, y):
        t.node(op, [t.value(x)], y, **attrs)
    return h


def _softmax(op):
    def h(t, m, x, y):
        dim = m.dim if m.dim is not None else -1
        t.node(op, [t.value(x)], y, axis=int(dim))
    return h


def _gelu(t, m, x, y):
    xi = t.value(x)
    dt = x.detach().numpy().dtype
    if m.approximate == "tanh":
        c = t.const(np.array(np.sqrt(2 / np.pi), dt))
        x3 = t.node("Mul", [t.node("Mul", [xi, xi]), xi])
        inner = t.node("Mul", [c, t.node("Add", [xi, t.node("Mul", [x3, t.const(np.array(0.044715, dt))])])])
        half = t.node("Mul", [xi, t.const(np.array(0.5, dt))])
        t.node("Mul", [half, t.node("Add", [t.node("Tanh", [inner]), t.const(np.array(1.0, dt))])], y)
        return
    e = t.node("Erf", [t.node("Div", [xi, t.const(np.array(np.sqrt(2.0), dt))])])
    half = t.node("Mul", [xi, t.const(np.array(0.5, dt))])
    t.node("Mul", [half, t.node("Add", [e, t.const(np.array(1.0, dt))])], y)


def _flatten_mod(t, m, x, y):
    _flatten_op(t, x, m.start_dim, m.end_dim, y)


def _flatten_op(t, x, start, end, y):
    nd = x.dim()
    start, end = start % nd, end % nd
    if end == nd - 1:
        if start == 0:
            t.node("Reshape", [t.value(x), t.const(np.array([-1], np.int64))], y)
        else:
            shape = [0] * start + [-1]
            t.node("Reshape", [t.value(x), t.const(np.array(shape, np.int64))], y)
        return
    shape = [0] * start + [-1] + list(x.shape[end + 1:])
    t.node("Reshape", [t.value(x), t.const(np.array(shape, np.int64))], y)


def _layernorm(t, m, x, y):
    dt = x.detach().numpy().dtype
    n = len(m.normalized_shape)
    shape = tuple(m.normalized_shape)
    w = t.value(m.weight) if m.weight is not None else t.const(np.ones(shape, dt))
    ins = [t.value(x), w] + ([t.value(m.bias)] if getattr(m, "bias", None) is not None else [])
    t.node("LayerNormalization", ins, y, axis=-n, epsilon=float(m.eps))


def _embedding(t, m, x, y):
    if m.max_norm is not None:
        raise UnsupportedOperatorError(f"ember.onnx.export: Embedding(max_norm=...) (in module {t.where()})")
    idx = t.names.get(id(x)) or t.value(x)
    t.node("Gather", [t.value(m.weight), idx], y, axis=0)


def _identity(t, m, x, y):
    t.node("Identity", [t.value(x)], y)


def _rnn(t, m, x, y):
    """LSTM / GRU (one ONNX op per layer, both directions in one op); ``y`` is ``(output, h_n[, c_n])``."""
    if m.mode not in ("LSTM", "GRU") or getattr(m, "proj_size", 0):
        raise UnsupportedOperatorError(f"ember.onnx.export: {m.mode} (proj_size={getattr(m, 'proj_size', 0)}) in "
                                       f"module {t.where()} is not mapped")
    H = m.hidden_size
    ndir = 2 if m.bidirectional else 1
    dt = x.detach().numpy().dtype
    # torch's gate order -> ONNX's: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h
    order = [0, 3, 1, 2] if m.mode == "LSTM" else [1, 0, 2]
    ng = len(order)

    def reorder(a):
        return np.concatenate([a[k * H:(k + 1) * H] for k in order], axis=0)

    h = t.value(x)
    if m.batch_first:
        h = t.node("Transpose", [h], perm=[1, 0, 2])
    hs, cs = [], []
    for layer in range(m.num_layers):
        Ws, Rs, Bs = [], [], []
        for d in range(ndir):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w = getattr(m, "weight_ih" + sfx).detach().numpy()
            r = getattr(m, "weight_hh" + sfx).detach().numpy()
            if m.bias:
                bi = getattr(m, "bias_ih" + sfx).detach().numpy()
                bh = getattr(m, "bias_hh" + sfx).detach().numpy()
            else:
                bi = bh = np.zeros(ng * H, dt)
            Ws.append(reorder(w))
            Rs.append(reorder(r))
            Bs.append(np.concatenate([reorder(bi), reorder(bh)]))
        attrs = dict(hidden_size=H, direction="bidirectional" if ndir == 2 else "forward")
        if m.mode == "GRU":
            attrs["linear_before_reset"] = 1
        outs = [t.fresh("Y"), t.fresh("Y_h")] + ([t.fresh("Y_c")] if m.mode == "LSTM" else [])
        t.nodes.append(t.helper.make_node(m.mode, [h, t.const(np.stack(Ws)), t.const(np.stack(Rs)), t.const(np.stack(Bs))],
                                          outs, name=t.fresh(f"{t.where()}/{m.mode}"), **attrs))
        hs.append(outs[1])
        if m.mode == "LSTM":
            cs.append(outs[2])
        # Y: (seq, dirs, batch, H) -> (seq, batch, dirs * H)
        yt = t.node("Transpose", [outs[0]], perm=[0, 2, 1, 3])
        h = t.node("Reshape", [yt, t.const(np.array([0, 0, -1], np.int64))])
    out, rest = y[0], y[1]
    if m.batch_first:
        h = t.node("Transpose", [h], perm=[1, 0, 2])
    t.node("Identity", [h], out)
    hn = rest[0] if m.mode == "LSTM" else rest
    t.node("Concat", hs, hn, axis=0) if len(hs) > 1 else t.node("Identity", hs, hn)
    if m.mode == "LSTM":
        t.node("Concat", cs, rest[1], axis=0) if len(cs) > 1 else t.node("Identity", cs, rest[1])


def _mha_call(t, m, args, kwargs, y):
    """MultiheadAttention(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) on 3-d inputs, with a constant (L, S) mask."""
    names = ["query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights",
             "is_causal"]
    a = dict(zip(names, args))
    a.update(kwargs)
    q, k, v = a["query"], a["key"], a["value"]
    if a.get("key_padding_mask") is not None or q.dim() != 3:
        raise UnsupportedOperatorError(f"ember.onnx.export: MultiheadAttention with key_padding_mask or unbatched "
                                       f"input (in module {t.where()}) is not mapped")
    if m.bias_k is not None or m.add_zero_attn or m.kdim != m.embed_dim or m.vdim != m.embed_dim:
        raise UnsupportedOperatorError(f"ember.onnx.export: MultiheadAttention with add_bias_kv, add_zero_attn or "
                                       f"kdim/vdim (in module {t.where()}) is not mapped")
    E, nh = m.embed_dim, m.num_heads
    d = E // nh
    dt = q.detach().numpy().dtype
    W = m.in_proj_weight.detach().numpy()
    b = m.in_proj_bias.detach().numpy() if m.in_proj_bias is not None else np.zeros(3 * E, dt)

    def proj(x, i, perm):
        xi = t.value(x)
        if not m.batch_first:
            xi = t.node("Transpose", [xi], perm=[1, 0, 2])
        h = t.node("Add", [t.node("MatMul", [xi, t.const(W[i * E:(i + 1) * E].T.copy())]), t.const(b[i * E:(i + 1) * E])])
        h = t.node("Reshape", [h, t.const(np.array([0, 0, nh, d], np.int64))])
        return t.node("Transpose", [h], perm=perm)

    qh = proj(q, 0, [0, 2, 1, 3])
    kh = proj(k, 1, [0, 2, 3, 1])
    vh = proj(v, 2, [0, 2, 1, 3])
    scores = t.node("Mul", [t.node("MatMul", [qh, kh]), t.const(np.array(1.0 / np.sqrt(d), dt))])
    mask = a.get("attn_mask")
    L, S = q.shape[0 if not m.batch_first else 1], k.shape[0 if not m.batch_first else 1]
    if mask is None and a.get("is_causal"):
        mask = np.triu(np.ones((L, S), bool), 1)
    if mask is not None:
        mk = mask.detach().numpy() if hasattr(mask, "detach") else np.asarray(mask)
        if mk.dtype == bool:
            mk = np.where(mk, -np.inf, 0.0).astype(dt)
        if mk.ndim != 2:
            raise UnsupportedOperatorError(f"ember.onnx.export: a {mk.ndim}-d attn_mask (in module {t.where()}) is "
                                           "not mapped; give an (L, S) mask")
        scores = t.node("Add", [scores, t.const(mk.astype(dt))])
    attn = t.node("Softmax", [scores], axis=-1)
    o = t.node("MatMul", [attn, vh])
    o = t.node("Reshape", [t.node("Transpose", [o], perm=[0, 2, 1, 3]), t.const(np.array([0, 0, E], np.int64))])
    out_t, w_t = y
    ow = m.out_proj.weight.detach().numpy().T.copy()
    o = t.node("MatMul", [o, t.const(ow)])
    if m.out_proj.bias is not None:
        o = t.node("Add", [o, t.value(m.out_proj.bias)])
    if not m.batch_first:
        o = t.node("Transpose", [o], perm=[1, 0, 2])
    t.node("Identity", [o], out_t)
    if w_t is not None:
        if a.get("average_attn_weights", True):
            t.node("ReduceMean", [attn], w_t, axes=[1], keepdims=0)
        else:
            t.node("Identity", [attn], w_t)


def _module_handlers():
    from ember import nn

    h = {
        nn.Linear: _linear, nn.Conv1d: _conv, nn.Conv2d: _conv,
        nn.BatchNorm1d: _bn, nn.BatchNorm2d: _bn,
        nn.MaxPool2d: _maxpool, nn.AvgPool2d: _avgpool, nn.AdaptiveAvgPool2d: _adaptive_avg,
        nn.ReLU: _unary("Relu"), nn.Tanh: _unary("Tanh"), nn.Sigmoid: _unary("Sigmoid"),
        nn.Dropout: _identity, nn.Identity: _identity, nn.Flatten: _flatten_mod,
        nn.Softmax: _softmax("Softmax"), nn.LogSoftmax: _softmax("LogSoftmax"), nn.GELU: _gelu,
        nn.LayerNorm: _layernorm, nn.Embedding: _embedding, nn.LSTM: _rnn, nn.GRU: _rnn,
    }
    h[nn.LeakyReLU] = lambda t, m, x, y: t.node("LeakyRelu", [t.value(x)], y, alpha=float(m.negative_slope))
    h[nn.ELU] = lambda t, m, x, y: t.node("Elu", [t.value(x)], y, alpha=float(m.alpha))
    for name in ("Dropout1d", "Dropout2d", "AlphaDropout"):
        if hasattr(nn, name):
            h[getattr(nn, name)] = _identity
    return h


# ---------------------------------------------------------------------------- tensor-op wrappers


def _binary(op, reverse=False):
    def emit(t, a, b, y):
        from ember import Tensor

        ref = a if isinstance(a, Tensor) else b
        dt = ref.detach().numpy().dtype
        va = t.value(a, dt)
        vb = t.value(b, dt)
        t.node(op, [vb, va] if reverse else [va, vb], y)
    return emit


def _reshape_emit(t, x, shape, y):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = [int(s) for s in shape]
    # the batch dimension stays dynamic: a target dim 0 equal to the input's is copied (ONNX's 0)
    if shape and x.dim() > 0 and shape[0] == x.shape[0] and -1 in shape[1:]:
        shape[0] = 0
    t.node("Reshape", [t.value(x), t.const(np.array(shape, np.int64))], y)


def _permute_emit(t, x, dims, y):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    nd = x.dim()
    t.node("Transpose", [t.value(x)], y, perm=[int(d) % nd for d in dims])


def _transpose_emit(t, x, d0, d1, y):
    nd = x.dim()
    perm = list(range(nd))
    perm[d0 % nd], perm[d1 % nd] = perm[d1 % nd], perm[d0 % nd]
    t.node("Transpose", [t.value(x)], y, perm=perm)


_METHODS = {
    "__add__": lambda t, a, b, y: _binary("Add")(t, a, b, y),
    "__radd__": lambda t, a, b, y: _binary("Add", True)(t, a, b, y),
    "__sub__": lambda t, a, b, y: _binary("Sub")(t, a, b, y),
    "__rsub__": lambda t, a, b, y: _binary("Sub", True)(t, a, b, y),
    "__mul__": lambda t, a, b, y: _binary("Mul")(t, a, b, y),
    "__rmul__": lambda t, a, b, y: _binary("Mul", True)(t, a, b, y),
    "__truediv__": lambda t, a, b, y: _binary("Div")(t, a, b, y),
    "__matmul__": lambda t, a, b, y: t.node("MatMul", [t.value(a), t.value(b)], y),
    "add": lambda t, a, b, y: _binary("Add")(t, a, b, y),
    "mul": lambda t, a, b, y: _binary("Mul")(t, a, b, y),
    "matmul": lambda t, a, b, y: t.node("MatMul", [t.value(a), t.value(b)], y),
    "relu": lambda t, x, y: t.node("Relu", [t.value(x)], y),
    "gelu": lambda t, x, y, approximate="none": _gelu(t, type("G", (), {"approximate": approximate})(), x, y),
    "tanh": lambda t, x, y: t.node("Tanh", [t.value(x)], y),
    "sigmoid": lambda t, x, y: t.node("Sigmoid", [t.value(x)], y),
    "view": lambda t, x, *s, y: _reshape_emit(t, x, s, y),
    "reshape": lambda t, x, *s, y: _reshape_emit(t, x, s, y),
    "flatten": lambda t, x, start_dim=0, end_dim=-1, y=None: _flatten_op(t, x, start_dim, end_dim, y),
    "permute": lambda t, x, *d, y: _permute_emit(t, x, d, y),
    "transpose": lambda t, x, d0, d1, y: _transpose_emit(t, x, d0, d1, y),
}


def _wrap_method(name, orig, emit):
    def wrapper(*args, **kwargs):
        if not _active():
            return orig(*args, **kwargs)
        t = _T
        t.suspended += 1
        try:
            y = orig(*args, **kwargs)
        finally:
            t.suspended -= 1
        try:
            if name in ("view", "reshape", "permute"):
                emit(t, args[0], *args[1:], y=y)
            elif name == "flatten":
                emit(t, *args, y=y, **kwargs)
            else:
                emit(t, *args, y, **kwargs)
        except TypeError as e:
            raise UnsupportedOperatorError(f"ember.onnx.export: Tensor.{name} called with arguments this exporter does "
                                           f"not map (in module {t.where()}): {e}") from None
        return y
    return wrapper


@contextlib.contextmanager
def _patched(model, tracer):
    global _T
    import ember
    from ember import Tensor, nn

    handlers = _module_handlers()
    orig_call = nn.Module.__call__

    def module_call(self, *args, **kwargs):
        if not _active():
            return orig_call(self, *args, **kwargs)
        t = _T
        t.path.append(t.mod_names.get(id(self), type(self).__name__))
        try:
            if isinstance(self, nn.MultiheadAttention):
                t.suspended += 1
                try:
                    y = orig_call(self, *args, **kwargs)
                finally:
                    t.suspended -= 1
                _mha_call(t, self, args, kwargs, y)
                return y
            h = handlers.get(type(self))
            if h is None:
                act = self.__dict__.get("activation")
                wrapped = act_wrappers.get(act) if act is not None and not isinstance(act, nn.Module) else None
                if wrapped is not None:  # a layer that stored F.relu / F.gelu at construction
                    self.__dict__["activation"] = wrapped
                try:
                    y = orig_call(self, *args, **kwargs)
                finally:
                    if wrapped is not None:
                        self.__dict__["activation"] = act
                for o in (y if isinstance(y, (tuple, list)) else (y,)):
                    if isinstance(o, Tensor) and o.grad_fn is not None and id(o) not in t.names:
                        t.value(o)  # raises, naming the op and this module's path
                return y
            t.suspended += 1
            try:
                y = orig_call(self, *args, **kwargs)
            finally:
                t.suspended -= 1
            if kwargs or len(args) != 1 or not (isinstance(y, Tensor) or h is _rnn):
                raise UnsupportedOperatorError(
                    f"ember.onnx.export: {type(self).__name__} (in module {t.where()}) called with "
                    f"{len(args)} positional and {len(kwargs)} keyword arguments is not mapped")
            h(t, self, args[0], y)
            return y
        finally:
            t.path.pop()

    saved = [(nn.Module, "__call__", orig_call)]
    nn.Module.__call__ = module_call
    for name, emit in _METHODS.items():
        orig = Tensor.__dict__.get(name)
        if orig is None:
            continue
        saved.append((Tensor, name, orig))
        setattr(Tensor, name, _wrap_method(name, orig, emit))
    for mod, name, emit in ((ember, "relu", _METHODS["relu"]), (ember, "tanh", _METHODS["tanh"]),
                            (ember, "sigmoid", _METHODS["sigmoid"]), (ember, "matmul", _METHODS["matmul"]),
                            (ember, "flatten", _METHODS["flatten"])):
        orig = getattr(mod, name, None)
        if orig is not None:
            saved.append((mod, name, orig))
            setattr(mod, name, _wrap_method(name, orig, emit))
    import ember.nn.functional as F

    act_wrappers = {}
    for name in ("relu", "tanh", "sigmoid", "gelu"):
        orig = getattr(F, name, None)
        if orig is not None:
            saved.append((F, name, orig))
            w = _wrap_method(name, orig, _METHODS[name])
            setattr(F, name, w)
            act_wrappers[orig] = w
    _T = tracer
    try:
        yield
    finally:
        _T = None
        for obj, name, orig in reversed(saved):
            setattr(obj, name, orig)


# ---------------------------------------------------------------------------- export


def _elem_type(dtype):
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None, opset_version=None,
           do_constant_folding=True, export_params=True, verbose=False, training=None, **kwargs):
    """Trace ``model(*args)`` once in eval mode and write an ONNX model to ``f`` (a path or a binary file).

    ``input_names`` / ``output_names`` name the graph's inputs and outputs (default ``input_0``...,
    ``output_0``...); ``dynamic_axes`` maps those names to the axes that may vary (``{"x": {0: "batch"}}``
    or ``{"x": [0]}``). ``opset_version`` defaults to 17. ``do_constant_folding`` is accepted (the
    exported graph has no foldable constant subgraphs: parameters are initializers). Returns None."""
    onnx = _require_onnx()
    from onnx import helper

    from ember import Tensor, enable_grad

    if kwargs:
        raise TypeError(f"ember.onnx.export got unexpected arguments {sorted(kwargs)}")
    if not export_params:
        raise ValueError("ember.onnx.export: export_params=False is not supported (parameters are always stored)")
    opset = _DEFAULT_OPSET if opset_version is None else int(opset_version)
    if opset < 17:
        raise ValueError(f"ember.onnx.export: opset_version={opset} is not supported; use 17 or newer "
                         "(LayerNormalization needs 17)")
    if isinstance(args, Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    if not isinstance(args, tuple) or not args or not all(isinstance(a, Tensor) for a in args):
        raise TypeError("ember.onnx.export: args must be a Tensor or a tuple of Tensors (the example inputs)")
    n_in = len(args)
    input_names = list(input_names) if input_names is not None else [f"input_{i}" for i in range(n_in)]
    if len(input_names) != n_in:
        raise ValueError(f"ember.onnx.export: {len(input_names)} input_names for {n_in} inputs")
    was_training = getattr(model, "training", False)
    if was_training:
        warnings.warn("ember.onnx.export: the model is in training mode; it is exported in eval mode (dropout off, "
                      "BatchNorm with running statistics), as torch.onnx.export does. Call model.eval() first to "
                      "silence this.", UserWarning, stacklevel=2)
    tracer = _Tracer(model, onnx)
    ins = []
    for a, name in zip(args, input_names):
        x = a.detach()
        if x.is_floating_point():
            x = x.requires_grad_(True)
        tracer.bind(x, name)
        ins.append(x)
    try:
        model.eval()
        with enable_grad(), _patched(model, tracer):
            out = model(*ins)
    finally:
        model.train(was_training)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    if not all(isinstance(o, Tensor) for o in outs):
        raise TypeError("ember.onnx.export: the model must return a Tensor or a tuple of Tensors")
    output_names = list(output_names) if output_names is not None else [f"output_{i}" for i in range(len(outs))]
    if len(output_names) != len(outs):
        raise ValueError(f"ember.onnx.export: {len(output_names)} output_names for {len(outs)} outputs")
    dyn = dynamic_axes or {}
    known = set(input_names) | set(output_names)
    for k in dyn:
        if k not in known:
            raise ValueError(f"ember.onnx.export: dynamic_axes names {k!r}, which is not an input or output name; "
                             f"the inputs are {input_names} and the outputs {output_names}")

    def dims(name, shape):
        d = dyn.get(name, {})
        d = {int(i): f"{name}_dynamic_axes_{int(i) + 1}" for i in d} if isinstance(d, (list, tuple)) else \
            {int(i): str(v) for i, v in d.items()}
        for i in d:
            if not -len(shape) <= i < len(shape):
                raise ValueError(f"ember.onnx.export: dynamic_axes[{name!r}] names axis {i}, but {name} has "
                                 f"{len(shape)} dimensions")
        d = {i % len(shape): v for i, v in d.items()}
        return [d.get(i, int(s)) for i, s in enumerate(shape)]

    nodes = list(tracer.nodes)
    for o, name in zip(outs, output_names):
        src = tracer.value(o)
        nodes.append(helper.make_node("Identity", [src], [name], name=f"output/{name}"))
    g_in = [helper.make_tensor_value_info(n, _elem_type(a.detach().numpy().dtype), dims(n, a.shape))
            for a, n in zip(args, input_names)]
    g_out = [helper.make_tensor_value_info(n, _elem_type(o.detach().numpy().dtype), dims(n, o.shape))
             for o, n in zip(outs, output_names)]
    graph = helper.make_graph(nodes, type(model).__name__, g_in, g_out, initializer=tracer.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="ember")
    m.ir_version = min(m.ir_version, 9)
    onnx.checker.check_model(m)
    data = m.SerializeToString()
    if isinstance(f, (str, os.PathLike)):
        from .viz import _atomic_write

        _atomic_write(os.fspath(f), data)
    elif isinstance(f, io.IOBase) or hasattr(f, "write"):
        f.write(data)
    else:
        raise TypeError(f"ember.onnx.export: f must be a path or a binary file object, got {type(f).__name__}")
    if verbose:
        print(helper.printable_graph(graph))
