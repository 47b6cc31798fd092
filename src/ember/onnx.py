"""``torch.onnx.export`` for ember models: trace one forward pass (eval mode) into an ONNX model.

How the trace works (and why it is robust): during export, ``nn.Module.__call__``, the tensor methods and
``ember.*`` / ``ember.nn.functional`` functions the exporter maps are wrapped (restored in ``finally``).
A module whose type has an ONNX mapping (``Linear``, ``Conv2d``, ``LSTM``, ``MultiheadAttention``...) is
run as usual with recording suspended inside it and emits its ONNX nodes (so the export does not depend
on how ember computes the layer); other modules (containers, your own, ``TransformerEncoderLayer``...) are
entered and their children, functions and tensor ops recorded. The float inputs are made to require grad
while tracing, so every value computed from them carries a ``grad_fn``: a traced op that meets such a
value it has not seen knows that an op without an ONNX mapping produced it, and the export fails naming
that op (``grad_fn.name()``) and the module path where it ran. Parameters and buffers become initializers
(named as in ``state_dict``). A value modified in place after it was recorded is detected the same way.

Needs the ``onnx`` package (``pip install ember[onnx]``). What is mapped is listed in docs/onnx.md.

Integer and boolean values (token ids, masks) do not carry a ``grad_fn``; so that an unmapped op applied
to them is not frozen into a constant, every other public tensor method and ``ember`` / ``F`` function is
wrapped too and fails when it meets a value computed from the inputs.
"""
from __future__ import annotations

import contextlib
import enum
import inspect
import io
import math
import os
import warnings

import numpy as np

__all__ = ["export", "UnsupportedOperatorError", "TrainingMode", "is_in_onnx_export"]

_BIG = np.iinfo(np.int64).max


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
    def __init__(self, model, onnx, opset):
        from onnx import helper

        self.helper = helper
        self.onnx = onnx
        self.opset = opset
        self.names = {}  # id(tensor) -> (value name, grad_fn when it was bound)
        self.keep = []  # tensors kept alive while their ids are keys
        self.nodes = []
        self.inits = []
        self.init_names = set()
        self.counter = 0
        self.suspended = 0
        self.path = []
        self.mod_names = {id(m): n for n, m in model.named_modules()}
        self.root = type(model).__name__
        self.mod_names[id(model)] = self.root  # the root is named by its class
        self.state_names = {id(p): n for n, p in model.named_parameters()}
        self.state_names.update({id(b): n for n, b in model.named_buffers()})

    def fresh(self, base):
        self.counter += 1
        return f"{base}_{self.counter}"

    def where(self):
        return self.path[-1] if self.path else "<top level>"

    def enter(self, module):
        """Push the path of ``module``: the root's class name, then its attribute names ("Net/encoder/layers/0")."""
        name = self.mod_names.get(id(module))
        if name is None:  # a module that is not a submodule of the exported one (made in forward)
            name = (self.path[-1] + "/" if self.path else "") + type(module).__name__
        elif self.path or name != self.root:
            name = self.root + "/" + name.replace(".", "/") if name != self.root else name
        self.path.append(name)

    def fail(self, what, fix=""):
        raise UnsupportedOperatorError(f"ember.onnx.export: {what} (in module {self.where()}) has no ONNX mapping in "
                                       "ember's exporter" + (f"; {fix}" if fix else "") + " (see docs/onnx.md)")

    def const(self, arr, base="const"):
        from onnx import numpy_helper

        arr = np.asarray(arr)
        name = base if base not in self.init_names and base != "const" else self.fresh(base)
        self.init_names.add(name)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def i64(self, vals):
        return self.const(np.array(vals, np.int64))

    def scalar(self, v, dt):
        return self.const(np.array(v, dtype=dt))

    def known(self, x):
        """Whether ``x`` is a tensor the trace has a value name for."""
        return id(x) in self.names

    def names_of(self, args):
        """The recorded ``(name, grad_fn)`` of the traced tensors among ``args``, before a call."""
        return {id(a): self.names[id(a)] for a in args if id(a) in self.names}

    def reread_rewritten(self, before, args, y):
        """A call with ``inplace=True`` rewrote and returned its input ``y``: its emitter reads the value
        recorded before the call (``before``, from :meth:`names_of`), and binds the result anew."""
        e = before.get(id(y))
        if e is not None and any(a is y for a in args) and y.grad_fn is not e[1]:
            self.names[id(y)] = (e[0], y.grad_fn)

    def value(self, x, dtype=None):
        """ONNX value name of a tensor, Python number or array met as an op's operand."""
        from ember import Tensor

        if isinstance(x, Tensor):
            e = self.names.get(id(x))
            if e is not None:
                if e[1] is not x.grad_fn:
                    raise UnsupportedOperatorError(
                        f"ember.onnx.export: a value of shape {tuple(x.shape)} was modified in place "
                        f"(by {x.grad_fn.name() if x.grad_fn is not None else 'an in-place op'}, in module "
                        f"{self.where()}) after the exporter recorded it; the in-place ops mapped are += -= *= /= "
                        "and add_, sub_, mul_, div_, relu_, clamp_, masked_fill_, neg_, exp_: use the out-of-place "
                        "form (x = x.tanh() instead of x.tanh_())")
                return e[0]
            if x.grad_fn is not None:
                raise UnsupportedOperatorError(
                    f"ember.onnx.export: the op {x.grad_fn.name()} (in module {self.where()}) has no ONNX mapping "
                    "in ember's exporter: a value of shape "
                    f"{tuple(x.shape)} reached a traced op without passing through a mapped op. Rewrite that part with "
                    "mapped ops (see docs/onnx.md) or export a model without it."
                )
            # a parameter, buffer or constant tensor: an initializer
            n = self.const(x.detach().numpy(), self.state_names.get(id(x), "param"))
            self.bind(x, n)
            return n
        if isinstance(x, (bool, np.bool_)) and dtype is None:
            return self.const(np.asarray(x, np.bool_))
        a = np.asarray(x, dtype=dtype or np.float32)
        return self.const(a)

    def bind(self, t, name):
        self.names[id(t)] = (name, t.grad_fn)
        self.keep.append(t)

    def node(self, op, inputs, out_tensor=None, **attrs):
        out = self.fresh(op.lower())
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=self.fresh(f"{self.where()}/{op}"), **attrs))
        if out_tensor is not None:
            self.bind(out_tensor, out)
        return out

    def multi(self, op, inputs, n_out, **attrs):
        outs = [self.fresh(op.lower()) for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op, inputs, outs, name=self.fresh(f"{self.where()}/{op}"), **attrs))
        return outs

    def out(self, name, y):
        """Bind tensor ``y`` to the existing value ``name`` (through an Identity, so each tensor has its node)."""
        return self.node("Identity", [name], y)

    def reduce(self, op, x, axes, keepdims, y=None):
        """ReduceSum/Mean/Max/... over ``axes`` (None: all), with the axes as an input or an attribute per opset."""
        as_input = op == "ReduceSum" and self.opset >= 13 or self.opset >= 18
        if axes is None:
            return self.node(op, [x], y, keepdims=int(keepdims))
        axes = [int(a) for a in axes]
        if as_input:
            return self.node(op, [x, self.i64(axes)], y, keepdims=int(keepdims))
        return self.node(op, [x], y, axes=axes, keepdims=int(keepdims))

    def squeeze(self, x, axes, y=None):
        return self.node("Squeeze", [x, self.i64(axes)], y)

    def unsqueeze(self, x, axes, y=None):
        return self.node("Unsqueeze", [x, self.i64(axes)], y)


_T = None  # the active tracer


def is_in_onnx_export():
    """True while ``ember.onnx.export`` traces a model (torch.onnx.is_in_onnx_export)."""
    return _T is not None


def _active():
    return _T is not None and _T.suspended == 0


def _dt(x):
    return x.detach().numpy().dtype


def _ints(v, n):
    return [int(i) for i in v] if isinstance(v, (tuple, list)) else [int(v)] * n


# ---------------------------------------------------------------------------- shared emitters


def _pad_emit(t, x, xname, pad, mode="constant", value=None, y=None):
    """torch's pad list (last dim first: left, right, ...) applied with ONNX Pad (circular by Slice + Concat)."""
    nd = x.dim()
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > nd:
        t.fail(f"pad {pad} for a {nd}-d input")
    begins, ends = [0] * nd, [0] * nd
    for i in range(len(pad) // 2):
        begins[nd - 1 - i], ends[nd - 1 - i] = pad[2 * i], pad[2 * i + 1]
    if mode == "circular":
        h = xname
        for ax in range(nd):
            lo, hi = begins[ax], ends[ax]
            if lo < 0 or hi < 0:
                t.fail("circular padding with negative pads")
            parts = []
            if lo:
                parts.append(t.node("Slice", [h, t.i64([-lo]), t.i64([_BIG]), t.i64([ax])]))
            parts.append(h)
            if hi:
                parts.append(t.node("Slice", [h, t.i64([0]), t.i64([hi]), t.i64([ax])]))
            if len(parts) > 1:
                h = t.node("Concat", parts, axis=ax)
        return t.node("Identity", [h], y)
    onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}.get(mode)
    if onnx_mode is None:
        t.fail(f"padding mode {mode!r}")
    ins = [xname, t.i64(begins + ends)]
    if onnx_mode == "constant":
        ins.append(t.scalar(0.0 if value is None else value, _dt(x)))
    return t.node("Pad", ins, y, mode=onnx_mode)


def _gelu_emit(t, xi, dt, approximate, y):
    if approximate == "tanh":
        c = t.scalar(np.sqrt(2 / np.pi), dt)
        x3 = t.node("Mul", [t.node("Mul", [xi, xi]), xi])
        inner = t.node("Mul", [c, t.node("Add", [xi, t.node("Mul", [x3, t.scalar(0.044715, dt)])])])
        half = t.node("Mul", [xi, t.scalar(0.5, dt)])
        return t.node("Mul", [half, t.node("Add", [t.node("Tanh", [inner]), t.scalar(1.0, dt)])], y)
    e = t.node("Erf", [t.node("Div", [xi, t.scalar(np.sqrt(2.0), dt)])])
    half = t.node("Mul", [xi, t.scalar(0.5, dt)])
    return t.node("Mul", [half, t.node("Add", [e, t.scalar(1.0, dt)])], y)


def _flatten_emit(t, x, start, end, y):
    nd = max(x.dim(), 1)
    start, end = start % nd, end % nd
    if x.dim() == 0:
        shape = [1]
    elif end == nd - 1:
        shape = [0] * start + [-1]
    else:
        shape = [0] * start + [-1] + [int(s) for s in x.shape[end + 1:]]
    return t.node("Reshape", [t.value(x), t.i64(shape)], y)


def _reshape_emit(t, x, shape, y):
    shape = [int(s) for s in shape]
    # leading target sizes equal to the input's (x.size(0), x.size(1)...) are copied from the input at run time
    # (ONNX's 0), so the batch and sequence axes stay dynamic
    for i in range(min(len(shape), x.dim())):
        if shape[i] != x.shape[i]:
            break
        shape[i] = 0
    return t.node("Reshape", [t.value(x), t.i64(shape)], y)


def _softmax_dim(dim, nd):
    if dim is None:  # torch's legacy implicit dim
        return 0 if nd in (0, 1, 3) else 1
    return int(dim)


def _norm_mask(t, mask, dt):
    """An attention mask (bool: True = masked out, or additive float) as an additive float ONNX value."""
    from ember import Tensor

    if isinstance(mask, Tensor) and t.known(mask):
        name = t.value(mask)
        if mask.dtype == __import__("ember").bool:
            return t.node("Where", [name, t.scalar(-np.inf, dt), t.scalar(0.0, dt)])
        return name if _dt(mask) == dt else t.node("Cast", [name], to=_elem_type(dt))
    mk = mask.detach().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    if mk.dtype == bool:
        mk = np.where(mk, -np.inf, 0.0)
    return t.const(mk.astype(dt))


def _is_causal_const(mask, L, S):
    """Whether a constant mask is the (L, L) causal one (bool True above the diagonal, or -inf there and 0 else)."""
    if L != S or mask is None:
        return False
    from ember import Tensor

    mk = mask.detach().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    if mk.shape != (L, L):
        return False
    upper = np.triu(np.ones((L, L), bool), 1)
    if mk.dtype == bool:
        return bool(np.array_equal(mk, upper))
    return bool(np.array_equal(np.isneginf(mk), upper) and not np.any(mk[~upper]))


def _causal_mask(t, ref, axis, dt):
    """An additive causal mask sized from ``ref``'s ``axis`` at run time (the sequence length stays dynamic)."""
    n = t.node("Gather", [t.node("Shape", [ref]), t.i64([axis])], axis=0)
    full = t.node("Expand", [t.scalar(-np.inf, dt), t.node("Concat", [n, n], axis=0)])
    return t.node("Trilu", [full, t.i64(1)], upper=1)


def _attention(t, qh, kh_t, vh, scale, dt, mask=None):
    """softmax(q @ k^T * scale + mask) @ v on ONNX values; returns (output, weights)."""
    scores = t.node("Mul", [t.node("MatMul", [qh, kh_t]), t.scalar(scale, dt)])
    if mask is not None:
        scores = t.node("Add", [scores, mask])
    attn = t.node("Softmax", [scores], axis=-1)
    return t.node("MatMul", [attn, vh]), attn


# ---------------------------------------------------------------------------- module handlers
# A handler is h(tracer, module, args, kwargs, outputs); _x() adapts those called with one input.


def _x(h):
    def call(t, m, args, kwargs, y):
        if kwargs or len(args) != 1 or not isinstance(y, __import__("ember").Tensor):
            t.fail(f"{type(m).__name__} called with {len(args)} positional and {len(kwargs)} keyword arguments")
        h(t, m, args[0], y)
    return call


def _linear(t, m, x, y):
    w = t.node("Transpose", [t.value(m.weight)], perm=[1, 0])  # folded into an initializer by constant folding
    out = t.node("MatMul", [t.value(x), w], None if m.bias is not None else y)
    if m.bias is not None:
        t.node("Add", [out, t.value(m.bias)], y)


def _conv_pads(t, m, x, nd):
    k, d = _ints(m.kernel_size, nd), _ints(m.dilation, nd)
    if isinstance(m.padding, str):
        if m.padding == "valid":
            return [0] * nd, [0] * nd
        total = [di * (ki - 1) for di, ki in zip(d, k)]  # 'same': torch puts the odd pixel at the end
        return [tt // 2 for tt in total], [tt - tt // 2 for tt in total]
    p = _ints(m.padding, nd)
    return p, list(p)


def _conv(t, m, x, y):
    nd = x.dim() - 2
    if nd < 1:
        t.fail(f"{_mname(m)} on unbatched input of shape {tuple(x.shape)}", "give a batched input")
    lo, hi = _conv_pads(t, m, x, nd)
    xi = t.value(x)
    mode = getattr(m, "padding_mode", "zeros")
    if mode != "zeros":
        pad = []
        for a in reversed(range(nd)):
            pad += [lo[a], hi[a]]
        xi = _pad_emit(t, x, xi, pad, mode)
        lo, hi = [0] * nd, [0] * nd
    ins = [xi, t.value(m.weight)] + ([t.value(m.bias)] if m.bias is not None else [])
    t.node("Conv", ins, y, kernel_shape=_ints(m.kernel_size, nd), strides=_ints(m.stride, nd),
           dilations=_ints(m.dilation, nd), pads=lo + hi, group=int(m.groups))


def _conv_transpose(t, m, args, kwargs, y):
    x = args[0]
    output_size = args[1] if len(args) > 1 else kwargs.get("output_size")
    nd = x.dim() - 2
    if nd < 1:
        t.fail(f"{_mname(m)} on unbatched input of shape {tuple(x.shape)}", "give a batched input")
    op = _ints(m._output_padding(x, output_size), nd)
    p = _ints(m.padding, nd)
    ins = [t.value(x), t.value(m.weight)] + ([t.value(m.bias)] if m.bias is not None else [])
    t.node("ConvTranspose", ins, y, kernel_shape=_ints(m.kernel_size, nd), strides=_ints(m.stride, nd),
           dilations=_ints(m.dilation, nd), pads=p + p, output_padding=op, group=int(m.groups))


def _bn(t, m, x, y):
    if m.running_mean is None:
        t.fail(f"{_mname(m)}(track_running_stats=False) (it normalizes with batch statistics in eval mode)")
    c = m.num_features
    dt = _dt(x)
    w = t.value(m.weight) if m.weight is not None else t.const(np.ones(c, dt))
    b = t.value(m.bias) if m.bias is not None else t.const(np.zeros(c, dt))
    xin = t.value(x)
    stats = [t.value(m.running_mean), t.value(m.running_var)]
    if x.dim() == 2:  # (N, C): ONNX wants a spatial layout
        o = t.node("BatchNormalization", [t.unsqueeze(xin, [2]), w, b] + stats, epsilon=float(m.eps))
        t.squeeze(o, [2], y)
    else:
        t.node("BatchNormalization", [xin, w, b] + stats, y, epsilon=float(m.eps))


def _instancenorm(t, m, x, y):
    if m.running_mean is not None:  # eval with running statistics: a per-channel affine map, as BatchNorm
        unb = x.dim() == m._unbatched if hasattr(m, "_unbatched") else False
        xi = t.unsqueeze(t.value(x), [0]) if unb else t.value(x)
        dt = _dt(x)
        c = m.num_features
        w = t.value(m.weight) if m.weight is not None else t.const(np.ones(c, dt))
        b = t.value(m.bias) if m.bias is not None else t.const(np.zeros(c, dt))
        o = t.node("BatchNormalization", [xi, w, b, t.value(m.running_mean), t.value(m.running_var)],
                   epsilon=float(m.eps))
        t.node("Identity", [t.squeeze(o, [0]) if unb else o], y)
        return
    unb = x.dim() == getattr(m, "_unbatched", -1)
    xi = t.unsqueeze(t.value(x), [0]) if unb else t.value(x)
    dt = _dt(x)
    c = x.shape[0 if unb else 1]
    w = t.value(m.weight) if m.weight is not None else t.const(np.ones(c, dt))
    b = t.value(m.bias) if m.bias is not None else t.const(np.zeros(c, dt))
    o = t.node("InstanceNormalization", [xi, w, b], epsilon=float(m.eps))
    t.node("Identity", [t.squeeze(o, [0]) if unb else o], y)


def _groupnorm_emit(t, x, groups, weight, bias, eps, y):
    dt = _dt(x)
    xi = t.value(x)
    g = int(groups)
    h = t.node("Reshape", [xi, t.i64([0, g, -1])])
    h = t.node("InstanceNormalization", [h, t.const(np.ones(g, dt)), t.const(np.zeros(g, dt))], epsilon=float(eps))
    h = t.node("Reshape", [h, t.node("Shape", [xi])])
    c = x.shape[1]
    bshape = [c] + [1] * (x.dim() - 2)
    if weight is not None:
        h = t.node("Mul", [h, t.node("Reshape", [t.value(weight), t.i64(bshape)])])
    if bias is not None:
        h = t.node("Add", [h, t.node("Reshape", [t.value(bias), t.i64(bshape)])])
    t.node("Identity", [h], y)


def _layernorm_emit(t, x, normalized_shape, weight, bias, eps, y):
    dt = _dt(x)
    shape = tuple(int(s) for s in ((normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape))
    w = t.value(weight) if weight is not None else t.const(np.ones(shape, dt))
    ins = [t.value(x), w] + ([t.value(bias)] if bias is not None else [])
    t.node("LayerNormalization", ins, y, axis=-len(shape), epsilon=float(eps))


def _rmsnorm_emit(t, x, normalized_shape, weight, eps, y):
    dt = _dt(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if eps is None:
        eps = float(np.finfo(dt).eps)
    xi = t.value(x)
    ms = t.reduce("ReduceMean", t.node("Mul", [xi, xi]), list(range(-len(shape), 0)), True)
    h = t.node("Div", [xi, t.node("Sqrt", [t.node("Add", [ms, t.scalar(eps, dt)])])])
    if weight is not None:
        h = t.node("Mul", [h, t.value(weight)])
    t.node("Identity", [h], y)


def _pool(kind):
    def h(t, m, x, y):
        nd = x.dim() - 2
        if nd < 1:
            t.fail(f"{_mname(m)} on unbatched input of shape {tuple(x.shape)}", "give a batched input")
        if getattr(m, "return_indices", False):
            t.fail(f"{_mname(m)}(return_indices=True)")
        stride = m.stride if m.stride is not None and m.stride != [] else m.kernel_size
        pads = _ints(m.padding, nd)
        common = dict(kernel_shape=_ints(m.kernel_size, nd), strides=_ints(stride, nd), pads=pads + pads,
                      ceil_mode=int(bool(m.ceil_mode)))
        if kind == "max":
            t.node("MaxPool", [t.value(x)], y, dilations=_ints(m.dilation, nd), **common)
        else:
            if getattr(m, "divisor_override", None) is not None:
                t.fail(f"{_mname(m)}(divisor_override=...)")
            t.node("AveragePool", [t.value(x)], y, count_include_pad=int(bool(m.count_include_pad)), **common)
    return h


def _adaptive(kind):
    def h(t, m, x, y):
        nd = x.dim() - 2
        if nd < 1:
            t.fail(f"{_mname(m)} on unbatched input of shape {tuple(x.shape)}", "give a batched input")
        if getattr(m, "return_indices", False):
            t.fail(f"{_mname(m)}(return_indices=True)")
        size = m.output_size
        size = list(size) if isinstance(size, (tuple, list)) else [size] * nd
        ins = [int(s) for s in x.shape[2:]]
        size = [i if s is None else int(s) for s, i in zip(size, ins)]
        op = "Average" if kind == "avg" else "Max"
        if all(s == 1 for s in size):
            t.node(f"Global{op}Pool", [t.value(x)], y)
            return
        if any(i % s for i, s in zip(ins, size)):
            t.fail(f"{_mname(m)}(output_size={m.output_size}) on spatial size {tuple(ins)}",
                   "it is mapped when the input size is a multiple of the output size")
        k = [i // s for i, s in zip(ins, size)]
        t.node(f"{op}Pool", [t.value(x)], y, kernel_shape=k, strides=k)
    return h


def _interp_emit(t, x, size, scale_factor, mode, align_corners, y):
    nd = x.dim() - 2
    xi = t.value(x)
    attrs = {}
    if mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    elif mode == "nearest-exact":
        attrs = dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")
    elif mode in ("linear", "bilinear", "trilinear", "bicubic"):
        attrs = dict(mode="cubic" if mode == "bicubic" else "linear",
                     coordinate_transformation_mode="align_corners" if align_corners else "pytorch_half_pixel")
        if mode == "bicubic":
            attrs["cubic_coeff_a"] = -0.75
    else:
        t.fail(f"interpolate(mode={mode!r})")
    if size is not None:
        size = _ints(size, nd)
        shp = t.node("Slice", [t.node("Shape", [xi]), t.i64([0]), t.i64([2]), t.i64([0])])
        sizes = t.node("Concat", [shp, t.i64(size)], axis=0)
        t.node("Resize", [xi, "", "", sizes], y, **attrs)
    else:
        sf = [float(s) for s in (scale_factor if isinstance(scale_factor, (tuple, list)) else [scale_factor] * nd)]
        t.node("Resize", [xi, "", t.const(np.array([1.0, 1.0] + sf, np.float32))], y, **attrs)


def _upsample(t, m, x, y):
    _interp_emit(t, x, m.size, m.scale_factor, m.mode, getattr(m, "align_corners", None), y)


def _embedding(t, m, x, y):
    if m.max_norm is not None:
        t.fail("Embedding(max_norm=...) (it renormalizes the table in place)")
    t.node("Gather", [t.value(m.weight), t.value(x)], y, axis=0)


def _identity(t, m, x, y):
    t.node("Identity", [t.value(x)], y)


def _rnn_weights(t, m, layer, d, sfx_fmt="_l{layer}{rev}"):
    """ONNX's W, R, B rows for one layer/direction (gate order converted from torch's)."""
    H = m.hidden_size
    mode = _rnn_mode(m)
    order = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}[mode]  # torch i,f,g,o -> i,o,f,c; r,z,n -> z,r,h
    sfx = sfx_fmt.format(layer=layer, rev="_reverse" if d else "")

    def reorder(a):
        return np.concatenate([a[k * H:(k + 1) * H] for k in order], axis=0)

    w = getattr(m, "weight_ih" + sfx).detach().numpy()
    r = getattr(m, "weight_hh" + sfx).detach().numpy()
    bi = getattr(m, "bias_ih" + sfx, None)
    bh = getattr(m, "bias_hh" + sfx, None)
    z = np.zeros(len(order) * H, w.dtype)
    bi = bi.detach().numpy() if bi is not None else z
    bh = bh.detach().numpy() if bh is not None else z
    return reorder(w), reorder(r), np.concatenate([reorder(bi), reorder(bh)])


def _rnn_mode(m):
    name = getattr(m, "mode", None) or type(m).__name__  # "LSTM", "GRU", "RNN_TANH"... or a cell's class name
    return "LSTM" if name.startswith("LSTM") else "GRU" if name.startswith("GRU") else "RNN"


def _rnn_attrs(m, mode, ndir):
    attrs = dict(hidden_size=int(m.hidden_size), direction="bidirectional" if ndir == 2 else "forward")
    if mode == "GRU":
        attrs["linear_before_reset"] = 1
    if mode == "RNN":
        act = "Relu" if getattr(m, "nonlinearity", "tanh") == "relu" else "Tanh"
        attrs["activations"] = [act] * ndir
    return attrs


def _rnn(t, m, args, kwargs, y):
    """RNN / LSTM / GRU: one ONNX op per layer (both directions in one op); ``y`` is ``(output, h_n[, c_n])``."""
    from ember import Tensor

    mode = _rnn_mode(m)
    if getattr(m, "proj_size", 0):
        t.fail(f"LSTM(proj_size={m.proj_size})")
    x = args[0]
    hx = args[1] if len(args) > 1 else kwargs.get("hx")
    if not isinstance(x, Tensor):
        t.fail(f"{mode} on a {type(x).__name__} (packed sequences)", "pad the batch and pass a tensor")
    ndir = 2 if m.bidirectional else 1
    unbatched = x.dim() == 2
    h = t.value(x)
    if unbatched:
        h = t.unsqueeze(h, [1])
    elif m.batch_first:
        h = t.node("Transpose", [h], perm=[1, 0, 2])
    h0 = c0 = None
    if hx is not None:
        h0, c0 = (hx if mode == "LSTM" else (hx, None))
        h0 = t.value(h0)
        c0 = t.value(c0) if c0 is not None else None
        if unbatched:
            h0 = t.unsqueeze(h0, [1])
            c0 = t.unsqueeze(c0, [1]) if c0 is not None else None
    hs, cs = [], []
    for layer in range(m.num_layers):
        ws = [_rnn_weights(t, m, layer, d) for d in range(ndir)]
        ins = [h, t.const(np.stack([w[0] for w in ws])), t.const(np.stack([w[1] for w in ws])),
               t.const(np.stack([w[2] for w in ws])), ""]
        sl = [t.i64([layer * ndir]), t.i64([(layer + 1) * ndir]), t.i64([0])]
        ins.append(t.node("Slice", [h0] + sl) if h0 is not None else "")
        if mode == "LSTM":
            ins.append(t.node("Slice", [c0] + sl) if c0 is not None else "")
        while ins and ins[-1] == "":
            ins.pop()
        outs = t.multi(mode, ins, 3 if mode == "LSTM" else 2, **_rnn_attrs(m, mode, ndir))
        hs.append(outs[1])
        if mode == "LSTM":
            cs.append(outs[2])
        # Y: (seq, dirs, batch, H) -> (seq, batch, dirs * H)
        h = t.node("Reshape", [t.node("Transpose", [outs[0]], perm=[0, 2, 1, 3]), t.i64([0, 0, -1])])
    out, rest = y[0], y[1]
    if unbatched:
        h = t.squeeze(h, [1])
    elif m.batch_first:
        h = t.node("Transpose", [h], perm=[1, 0, 2])
    t.out(h, out)
    for states, tensor in zip((hs, cs), (rest[0], rest[1]) if mode == "LSTM" else (rest,)):
        v = t.node("Concat", states, axis=0) if len(states) > 1 else states[0]
        t.out(t.squeeze(v, [1]) if unbatched else v, tensor)


def _rnn_cell(t, m, args, kwargs, y):
    """RNNCell / LSTMCell / GRUCell: the ONNX RNN/LSTM/GRU op over a sequence of length 1."""
    mode = _rnn_mode(m)
    x = args[0]
    hx = args[1] if len(args) > 1 else kwargs.get("hx")
    unb = x.dim() == 1
    xi = t.value(x)
    xi = t.unsqueeze(xi, [0, 1] if unb else [0])
    W, R, B = _rnn_weights(t, m, 0, 0, sfx_fmt="")
    ins = [xi, t.const(W[None]), t.const(R[None]), t.const(B[None]), ""]
    if hx is not None:
        h0, c0 = (hx if mode == "LSTM" else (hx, None))
        ins.append(t.unsqueeze(t.value(h0), [0, 1] if unb else [0]))
        if c0 is not None:
            ins.append(t.unsqueeze(t.value(c0), [0, 1] if unb else [0]))
    while ins[-1] == "":
        ins.pop()
    outs = t.multi(mode, ins, 3 if mode == "LSTM" else 2, **_rnn_attrs(m, mode, 1))
    ax = [0, 1] if unb else [0]  # Y_h: (dirs=1, batch, H)
    if mode == "LSTM":
        t.squeeze(outs[1], ax, y[0])
        t.squeeze(outs[2], ax, y[1])
    else:
        t.squeeze(outs[1], ax, y)


def _mha_call(t, m, args, kwargs, y):
    """MultiheadAttention(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)."""
    names = ["query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights",
             "is_causal"]
    a = dict(zip(names, args))
    a.update(kwargs)
    q, k, v = a["query"], a["key"], a["value"]
    if m.bias_k is not None or m.add_zero_attn:
        t.fail("MultiheadAttention with add_bias_kv or add_zero_attn")
    E, nh = m.embed_dim, m.num_heads
    d = E // nh
    dt = _dt(q)
    batched = q.dim() == 3
    bf = m.batch_first and batched
    if m._qkv_same_embed_dim:
        W = m.in_proj_weight.detach().numpy()
        Ws = [W[i * E:(i + 1) * E] for i in range(3)]
    else:
        Ws = [p.detach().numpy() for p in (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)]
    b = m.in_proj_bias.detach().numpy() if m.in_proj_bias is not None else np.zeros(3 * E, dt)

    def proj(x, i, perm):  # -> (N, heads, len, d) (perm ends in 3, 1 for the keys: (N, heads, d, len))
        xi = t.value(x)
        if not batched:
            xi = t.unsqueeze(xi, [0])
        elif not m.batch_first:
            xi = t.node("Transpose", [xi], perm=[1, 0, 2])
        h = t.node("Add", [t.node("MatMul", [xi, t.const(Ws[i].T.copy())]), t.const(b[i * E:(i + 1) * E])])
        h = t.node("Reshape", [h, t.i64([0, 0, nh, d])])
        return t.node("Transpose", [h], perm=perm)

    qh = proj(q, 0, [0, 2, 1, 3])
    kh = proj(k, 1, [0, 2, 3, 1])
    vh = proj(v, 2, [0, 2, 1, 3])
    seq = 1 if bf else 0
    L, S = int(q.shape[seq]), int(k.shape[seq])
    mask = a.get("attn_mask")
    madd = None
    if (mask is None and a.get("is_causal") and L == S) or (not (_is_t(mask) and t.known(mask))
                                                              and _is_causal_const(mask, L, S)):
        madd, mask = _causal_mask(t, qh, 2, dt), None
    elif mask is None and a.get("is_causal"):
        mask = np.triu(np.ones((L, S), bool), 1)
    if mask is not None:
        madd = _norm_mask(t, mask, dt)
        if getattr(mask, "ndim", 2) == 3:  # (N * heads, L, S)
            madd = t.node("Reshape", [madd, t.i64([-1, nh, L, S])])
    kpm = a.get("key_padding_mask")
    if kpm is not None:
        kp = _norm_mask(t, kpm, dt)
        kp = t.unsqueeze(kp, [1, 2] if batched else [0, 1, 2])  # (N, S) -> (N, 1, 1, S)
        madd = kp if madd is None else t.node("Add", [madd, kp])
    o, attn = _attention(t, qh, kh, vh, 1.0 / math.sqrt(d), dt, madd)
    o = t.node("Reshape", [t.node("Transpose", [o], perm=[0, 2, 1, 3]), t.i64([0, 0, E])])
    out_t, w_t = y
    o = t.node("MatMul", [o, t.node("Transpose", [t.value(m.out_proj.weight)], perm=[1, 0])])
    if m.out_proj.bias is not None:
        o = t.node("Add", [o, t.value(m.out_proj.bias)])
    if not batched:
        o = t.squeeze(o, [0])
    elif not m.batch_first:
        o = t.node("Transpose", [o], perm=[1, 0, 2])
    t.out(o, out_t)
    if w_t is not None:
        if a.get("average_attn_weights", True):
            w = t.reduce("ReduceMean", attn, [1], False)
        else:
            w = attn
        t.out(t.squeeze(w, [0]) if not batched else w, w_t)


def _pixel_unshuffle_emit(t, x, r, y):
    c, hh, ww = (int(s) for s in x.shape[-3:])
    lead = [0] * (x.dim() - 3)
    h = t.node("Reshape", [t.value(x), t.i64(lead + [c, hh // r, r, ww // r, r])])
    n = len(lead)
    perm = list(range(n)) + [n, n + 2, n + 4, n + 1, n + 3]
    h = t.node("Transpose", [h], perm=perm)
    t.node("Reshape", [h, t.i64(lead + [c * r * r, hh // r, ww // r])], y)


def _pixel_shuffle_emit(t, x, r, y):
    c, hh, ww = (int(s) for s in x.shape[-3:])
    lead = [0] * (x.dim() - 3)
    n = len(lead)
    oc = c // (r * r)
    h = t.node("Reshape", [t.value(x), t.i64(lead + [oc, r, r, hh, ww])])
    h = t.node("Transpose", [h], perm=list(range(n)) + [n, n + 3, n + 1, n + 4, n + 2])
    t.node("Reshape", [h, t.i64(lead + [oc, hh * r, ww * r])], y)


def _channel_shuffle_emit(t, x, g, y):
    c = int(x.shape[1])
    rest = [int(s) for s in x.shape[2:]]
    h = t.node("Reshape", [t.value(x), t.i64([0, int(g), c // int(g)] + rest)])
    h = t.node("Transpose", [h], perm=[0, 2, 1] + list(range(3, 3 + len(rest))))
    t.node("Reshape", [h, t.i64([0, c] + rest)], y)


def _lrn(t, m, x, y):
    if m.size % 2 == 0 or type(m).__name__ != "LocalResponseNorm":
        t.fail(f"{type(m).__name__}(size={m.size})", "an odd size is mapped (ONNX's LRN centres the window)")
    t.node("LRN", [t.value(x)], y, size=int(m.size), alpha=float(m.alpha), beta=float(m.beta), bias=float(m.k))


def _module_handlers():
    from ember import nn

    h = {}

    def put(names, fn, one=True):
        for n in names.split():
            c = getattr(nn, n, None)
            if c is not None:
                h[c] = _x(fn) if one else fn

    put("Linear LazyLinear", _linear)
    put("Conv1d Conv2d Conv3d LazyConv1d LazyConv2d LazyConv3d", _conv)
    put("ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConvTranspose1d LazyConvTranspose2d "
        "LazyConvTranspose3d", _conv_transpose, one=False)
    put("BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d LazyBatchNorm3d", _bn)
    put("InstanceNorm1d InstanceNorm2d InstanceNorm3d LazyInstanceNorm1d LazyInstanceNorm2d LazyInstanceNorm3d",
        _instancenorm)
    put("MaxPool1d MaxPool2d MaxPool3d", _pool("max"))
    put("AvgPool1d AvgPool2d AvgPool3d", _pool("avg"))
    put("AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d", _adaptive("avg"))
    put("AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d", _adaptive("max"))
    put("Upsample UpsamplingNearest2d UpsamplingBilinear2d", _upsample)
    put("Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout Identity", _identity)
    put("Embedding", _embedding)
    put("LocalResponseNorm CrossMapLRN2d", _lrn)
    put("RNN LSTM GRU", _rnn, one=False)
    put("RNNCell LSTMCell GRUCell", _rnn_cell, one=False)
    put("MultiheadAttention", _mha_call, one=False)
    put("ReLU", lambda t, m, x, y: t.node("Relu", [t.value(x)], y))
    put("Tanh", lambda t, m, x, y: t.node("Tanh", [t.value(x)], y))
    put("Sigmoid", lambda t, m, x, y: t.node("Sigmoid", [t.value(x)], y))
    put("Flatten", lambda t, m, x, y: _flatten_emit(t, x, m.start_dim, m.end_dim, y))
    put("LayerNorm", lambda t, m, x, y: _layernorm_emit(t, x, m.normalized_shape, m.weight,
                                                        getattr(m, "bias", None), m.eps, y))
    put("GroupNorm", lambda t, m, x, y: _groupnorm_emit(t, x, m.num_groups, m.weight, m.bias, m.eps, y))
    put("PixelShuffle", lambda t, m, x, y: _pixel_shuffle_emit(t, x, int(m.upscale_factor), y))
    put("PixelUnshuffle", lambda t, m, x, y: _pixel_unshuffle_emit(t, x, int(m.downscale_factor), y))
    put("PReLU", _prelu_mod)
    put("ChannelShuffle", lambda t, m, x, y: _channel_shuffle_emit(t, x, m.groups, y))
    return h


# ---------------------------------------------------------------------------- tensor ops and functions
# An emitter is e(tracer, y, *values) where values are the call's arguments bound to the wrapped function's
# signature (defaults filled in; *args as a tuple), y its result.


def _is_t(v):
    from ember import Tensor

    return isinstance(v, Tensor)


def _operand(t, v, dt):
    """ONNX value of tensor or number ``v`` as dtype ``dt`` (a Cast when a tensor's dtype differs)."""
    if _is_t(v):
        n = t.value(v)
        return n if _dt(v) == dt else t.node("Cast", [n], to=_elem_type(dt))
    return t.const(np.asarray(v, dtype=dt))


def _binary(op, rev=False):
    def e(t, y, a, b, alpha=1):
        dt = _dt(y)
        va, vb = _operand(t, a, dt), _operand(t, b, dt)
        if alpha != 1:  # add/sub's alpha scales the second operand
            vb = t.node("Mul", [vb, t.scalar(alpha, dt)])
        t.node(op, [vb, va] if rev else [va, vb], y)
    return e


def _div(t, y, a, b, rounding_mode=None, rev=False):
    if rounding_mode is not None:
        t.fail(f"div(rounding_mode={rounding_mode!r})")
    _binary("Div", rev)(t, y, a, b)


def _compare(op, negate=False):
    def e(t, y, a, b):
        da = _dt(a) if _is_t(a) else None
        db = _dt(b) if _is_t(b) else None
        if da is None or db is None:
            known = da if da is not None else db
            other = b if da is not None else a
            dt = np.result_type(known, np.float32) if isinstance(other, float) and known.kind != "f" else known
        else:
            dt = np.promote_types(da, db)
        n = t.node(op, [_operand(t, a, dt), _operand(t, b, dt)], None if negate else y)
        if negate:
            t.node("Not", [n], y)
    return e


def _logical(op):
    def e(t, y, a, b=None):
        if _dt(y) != np.bool_:
            t.fail(f"bitwise {op} on {_dt(y)} tensors", "it is mapped for bool tensors")
        ins = [_operand(t, a, np.bool_)] + ([] if b is None else [_operand(t, b, np.bool_)])
        t.node(op, ins, y)
    return e


def _unary(op, **attrs):
    def e(t, y, x, *rest):
        t.node(op, [t.value(x)], y, **attrs)
    return e


def _dims(dim, nd):
    if dim is None:
        return None
    d = [dim] if isinstance(dim, int) else list(dim)
    return [int(i) % max(nd, 1) for i in d]


def _reduce_e(op):
    def e(t, y, x, dim=None, keepdim=False, dtype=None):
        xi = t.value(x)
        if _dt(x) != _dt(y) and op != "ReduceMean":
            xi = t.node("Cast", [xi], to=_elem_type(_dt(y)))
        axes = _dims(dim, x.dim())
        if axes == []:
            axes = None
        out = t.reduce(op, xi, axes, keepdim)
        t.out(out, y)
    return e


def _max_min(kind):
    def e(t, y, x, dim=None, keepdim=False, other=None):
        op = "Max" if kind == "max" else "Min"
        if other is not None:
            dim = other
        if _is_t(dim):  # elementwise max(a, b)
            dt = _dt(y)
            t.node(op, [_operand(t, x, dt), _operand(t, dim, dt)], y)
            return
        if dim is None:
            t.reduce(f"Reduce{op}", t.value(x), None, False, y)
            return
        ax = int(dim) % x.dim()
        t.reduce(f"Reduce{op}", t.value(x), [ax], keepdim, y[0])
        t.node(f"Arg{op}", [t.value(x)], y[1], axis=ax, keepdims=int(bool(keepdim)))
    return e


def _arg(op):
    def e(t, y, x, dim=None, keepdim=False):
        xi = t.value(x)
        if dim is None:
            t.node(op, [t.node("Reshape", [xi, t.i64([-1])])], y, axis=0, keepdims=0)
        else:
            t.node(op, [xi], y, axis=int(dim) % x.dim(), keepdims=int(bool(keepdim)))
    return e


def _var_std(kind):
    def e(t, y, x, dim=None, unbiased=None, keepdim=False, correction=None):
        corr = correction if correction is not None else (0 if unbiased is False else 1)
        axes = _dims(dim, x.dim()) or list(range(x.dim()))
        n = int(np.prod([x.shape[a] for a in axes]))
        xi = t.value(x)
        dt = _dt(x)
        m = t.reduce("ReduceMean", xi, axes, True)
        dev = t.node("Sub", [xi, m])
        ss = t.reduce("ReduceSum", t.node("Mul", [dev, dev]), axes, keepdim)
        v = t.node("Div", [ss, t.scalar(max(n - corr, 0), dt)])
        t.node("Sqrt" if kind == "std" else "Identity", [v], y)
    return e


def _norm_e(t, y, x, p="fro", dim=None, keepdim=False, dtype=None):
    axes = _dims(dim, x.dim())
    if p in ("fro", 2, 2.0):
        t.reduce("ReduceL2", t.value(x), axes, keepdim, y)
    elif p in (1, 1.0):
        t.reduce("ReduceL1", t.value(x), axes, keepdim, y)
    else:
        t.fail(f"norm(p={p!r})", "p=1, 2 and 'fro' are mapped")


def _softmax_e(op, neg=False):
    def e(t, y, x, dim=None, *rest):
        xi = t.value(x)
        if _dt(x) != _dt(y):
            xi = t.node("Cast", [xi], to=_elem_type(_dt(y)))
        if neg:
            xi = t.node("Neg", [xi])
        t.node(op, [xi], y, axis=_softmax_dim(dim, x.dim()))
    return e


def _shape_arg(s):
    return tuple(s[0]) if len(s) == 1 and isinstance(s[0], (tuple, list)) else tuple(s)


def _transpose_e(t, y, x, d0, d1):
    nd = x.dim()
    perm = list(range(nd))
    perm[d0 % nd], perm[d1 % nd] = perm[d1 % nd], perm[d0 % nd]
    t.node("Transpose", [t.value(x)], y, perm=perm)


def _t_e(t, y, x):
    if x.dim() < 2:
        t.node("Identity", [t.value(x)], y)
    else:
        _transpose_e(t, y, x, 0, 1)


def _unsqueeze_e(t, y, x, dim):
    t.unsqueeze(t.value(x), [int(dim) % (x.dim() + 1)], y)


def _squeeze_e(t, y, x, dim=None):
    nd = x.dim()
    axes = [i for i, s in enumerate(x.shape) if s == 1] if dim is None else \
        [a for a in _dims(dim, nd) if nd and x.shape[a] == 1]
    if axes:
        t.squeeze(t.value(x), axes, y)
    else:
        t.node("Identity", [t.value(x)], y)


def _unflatten_e(t, y, x, dim, sizes):
    nd = x.dim()
    dim = int(dim) % nd
    shape = [0] * dim + [int(s) for s in sizes] + [int(s) for s in x.shape[dim + 1:]]
    t.node("Reshape", [t.value(x), t.i64(shape)], y)


def _expand_e(t, y, x, *sizes):
    sizes = [int(s) for s in _shape_arg(sizes)]
    nd = x.dim()
    lead = len(sizes) - nd
    # -1 and sizes equal to the input's keep the input's (possibly dynamic) size: 1 in ONNX's broadcasting
    tgt = [1 if (i >= lead and (s == -1 or s == x.shape[i - lead])) else s for i, s in enumerate(sizes)]
    t.node("Expand", [t.value(x), t.i64(tgt)], y)


def _repeat_e(t, y, x, *sizes):
    sizes = [int(s) for s in _shape_arg(sizes)]
    xi = t.value(x)
    if len(sizes) > x.dim():
        xi = t.unsqueeze(xi, list(range(len(sizes) - x.dim())))
    t.node("Tile", [xi, t.i64(sizes)], y)


def _cast_e(t, y, x, *rest, **kw):
    if _dt(x) == _dt(y):
        t.node("Identity", [t.value(x)], y)
    else:
        t.node("Cast", [t.value(x)], y, to=_elem_type(_dt(y)))


def _clamp_e(t, y, x, min=None, max=None):
    dt = _dt(y)
    ins = [_operand(t, x, dt), "" if min is None else _operand(t, min, dt), "" if max is None else _operand(t, max, dt)]
    while ins[-1] == "":
        ins.pop()
    t.node("Clip", ins, y)


def _where_e(t, y, cond, a=None, b=None):
    if a is None or b is None:
        t.fail("where(condition) with one argument (nonzero)")
    dt = _dt(y)
    t.node("Where", [_operand(t, cond, np.bool_), _operand(t, a, dt), _operand(t, b, dt)], y)


def _masked_fill_e(t, y, x, mask, value):
    dt = _dt(y)
    t.node("Where", [_operand(t, mask, np.bool_), _operand(t, value, dt), t.value(x)], y)


def _cat_e(t, y, tensors, dim=0):
    dt = _dt(y)
    ts = [v for v in tensors if not (_is_t(v) and v.dim() == 1 and v.shape[0] == 0)]
    t.node("Concat", [_operand(t, v, dt) for v in ts], y, axis=int(dim) % y.dim())


def _stack_e(t, y, tensors, dim=0):
    dt = _dt(y)
    ax = int(dim) % y.dim()
    t.node("Concat", [t.unsqueeze(_operand(t, v, dt), [ax]) for v in tensors], y, axis=ax)


def _split_sizes(x, sizes, dim):
    n = int(x.shape[dim])
    if isinstance(sizes, int):
        return [min(sizes, n - i) for i in range(0, n, sizes)] or [0]
    return [int(s) for s in sizes]


def _split_out(t, y, x, sizes, dim):
    outs = t.multi("Split", [t.value(x), t.i64(sizes)], len(sizes), axis=dim)
    for o, yy in zip(outs, y):
        t.out(o, yy)
    return outs


def _split_e(t, y, x, split_size_or_sections, dim=0):
    dim = int(dim) % x.dim()
    _split_out(t, y, x, _split_sizes(x, split_size_or_sections, dim), dim)


def _chunk_e(t, y, x, chunks, dim=0):
    dim = int(dim) % x.dim()
    _split_out(t, y, x, [int(o.shape[dim]) for o in y], dim)


def _unbind_e(t, y, x, dim=0):
    dim = int(dim) % x.dim()
    outs = t.multi("Split", [t.value(x), t.i64([1] * len(y))], len(y), axis=dim)
    for o, yy in zip(outs, y):
        t.squeeze(o, [dim], yy)


def _like_e(kind):
    def e(t, y, x, *rest, **kw):
        val = {"zeros": 0, "ones": 1}.get(kind)
        if val is None:
            val = rest[0] if rest else kw.get("fill_value")
        from onnx import numpy_helper

        tensor = numpy_helper.from_array(np.array([val], dtype=_dt(y)))
        t.node("ConstantOfShape", [t.node("Shape", [t.value(x)])], y, value=tensor)
    return e


def _trilu_e(upper):
    def e(t, y, x, diagonal=0):
        t.node("Trilu", [t.value(x), t.i64(int(diagonal))], y, upper=int(upper))
    return e


def _getitem_e(t, y, x, idx):
    from ember import Tensor

    items = list(idx) if isinstance(idx, tuple) else [idx]
    n_real = sum(1 for i in items if i is not None and i is not Ellipsis)
    if any(i is Ellipsis for i in items):
        k = items.index(Ellipsis)
        items = items[:k] + [slice(None)] * (x.dim() - n_real) + items[k + 1:]
    items += [slice(None)] * (x.dim() - sum(1 for i in items if i is not None))
    starts, ends, axes, steps, gathers, unsq = [], [], [], [], [], []
    ax = out_ax = 0
    for it in items:
        if it is None:
            unsq.append(out_ax)
            out_ax += 1
        elif isinstance(it, slice):
            if it != slice(None):
                st = 1 if it.step is None else int(it.step)
                if st <= 0:
                    t.fail("a slice with a step <= 0")
                starts.append(0 if it.start is None else int(it.start))
                ends.append(_BIG if it.stop is None else int(it.stop))
                axes.append(ax)
                steps.append(st)
            ax += 1
            out_ax += 1
        elif isinstance(it, (int, np.integer)) and not isinstance(it, bool):
            gathers.append((ax, t.const(np.array(int(it), np.int64))))
            ax += 1
        elif isinstance(it, (Tensor, list, np.ndarray)):
            arr = it if isinstance(it, Tensor) else None
            dt = _dt(arr) if arr is not None else np.asarray(it).dtype
            if dt == np.bool_ or dt.kind not in "iu":
                t.fail("indexing with a boolean mask or a non-integer index", "use integer indices or where()")
            name = t.value(arr) if arr is not None else t.const(np.asarray(it, np.int64))
            gathers.append((ax, name))
            ax += 1
            out_ax += 1
        else:
            t.fail(f"indexing with {type(it).__name__}")
    if sum(1 for _, g in gathers if g) > 1 and any(isinstance(i, (Tensor, list, np.ndarray)) for i in items):
        t.fail("advanced indexing with several index tensors")
    h = t.value(x)
    if axes:
        h = t.node("Slice", [h, t.i64(starts), t.i64(ends), t.i64(axes), t.i64(steps)])
    for a, g in sorted(gathers, key=lambda p: -p[0]):
        h = t.node("Gather", [h, g], axis=a)
    if unsq:
        h = t.unsqueeze(h, unsq)
    t.out(h, y)


def _einsum_e(t, y, equation, *operands):
    ops = operands[0] if len(operands) == 1 and isinstance(operands[0], (tuple, list)) else operands
    t.node("Einsum", [t.value(o) for o in ops], y, equation=str(equation).replace(" ", ""))


def _identity_e(t, y, x, *rest, **kw):
    t.node("Identity", [t.value(x)], y)


def _view_as_e(t, y, x, other):
    t.node("Reshape", [t.value(x), t.node("Shape", [t.value(other)]) if t.known(other) else
                       t.i64([int(s) for s in other.shape])], y)


def _expand_as_e(t, y, x, other):
    t.node("Expand", [t.value(x), t.node("Shape", [t.value(other)]) if t.known(other) else
                      t.i64([int(s) for s in other.shape])], y)


def _cumsum_e(t, y, x, dim, dtype=None):
    t.node("CumSum", [t.value(x), t.i64(int(dim) % x.dim())], y)


def _narrow_e(t, y, x, dim, start, length):
    dim = int(dim) % x.dim()
    st = int(start) if not _is_t(start) else int(start.item())
    t.node("Slice", [t.value(x), t.i64([st]), t.i64([st + int(length)]), t.i64([dim])], y)


def _select_e(t, y, x, dim, index):
    t.node("Gather", [t.value(x), t.const(np.array(int(index), np.int64))], y, axis=int(dim) % x.dim())


def _index_select_e(t, y, x, dim, index):
    t.node("Gather", [t.value(x), t.value(index)], y, axis=int(dim) % x.dim())


def _gather_e(t, y, x, dim, index, sparse_grad=False):
    t.node("GatherElements", [t.value(x), t.value(index)], y, axis=int(dim) % x.dim())


def _flip_e(t, y, x, *dims):
    dims = [int(d) % x.dim() for d in _shape_arg(dims)]
    n = len(dims)
    t.node("Slice", [t.value(x), t.i64([-1] * n), t.i64([-_BIG] * n), t.i64(dims), t.i64([-1] * n)], y)


def _logsumexp_e(t, y, x, dim, keepdim=False):
    t.reduce("ReduceLogSumExp", t.value(x), _dims(dim, x.dim()), keepdim, y)


def _topk_e(t, y, x, k, dim=-1, largest=True, sorted=True):
    vals, idx = t.multi("TopK", [t.value(x), t.i64([int(k)])], 2, axis=int(dim) % x.dim(), largest=int(bool(largest)),
                        sorted=1)
    t.out(vals, y[0])
    t.out(idx, y[1])


def _log_base(base):
    def e(t, y, x):
        dt = _dt(x)
        t.node("Div", [t.node("Log", [t.value(x)]), t.scalar(np.log(base), dt)], y)
    return e


def _addmm_e(t, y, input, mat1, mat2, beta=1, alpha=1):
    dt = _dt(y)
    prod = t.node("MatMul", [t.value(mat1), t.value(mat2)])
    if alpha != 1:
        prod = t.node("Mul", [prod, t.scalar(alpha, dt)])
    inp = _operand(t, input, dt)
    if beta != 1:
        inp = t.node("Mul", [inp, t.scalar(beta, dt)])
    t.node("Add", [inp, prod], y)


def _outer_e(t, y, a, b):
    t.node("Mul", [t.unsqueeze(t.value(a), [1]), t.unsqueeze(t.value(b), [0])], y)


def _movedim_e(t, y, x, source, destination):
    nd = x.dim()
    src = [int(v) % nd for v in (source if isinstance(source, (tuple, list)) else [source])]
    dst = [int(v) % nd for v in (destination if isinstance(destination, (tuple, list)) else [destination])]
    rest = [d for d in range(nd) if d not in src]
    perm = [None] * nd
    for sd, dd in zip(src, dst):
        perm[dd] = sd
    it = iter(rest)
    perm = [p if p is not None else next(it) for p in perm]
    t.node("Transpose", [t.value(x)], y, perm=perm)


def _mT_e(t, y, x):
    _transpose_e(t, y, x, -2, -1)


def _T_e(t, y, x):
    t.node("Transpose", [t.value(x)], y, perm=list(range(x.dim()))[::-1])


def _view_e(t, y, x, *shape, size=None, dtype=None):
    if dtype is not None:
        t.fail(f"view(dtype={dtype}) (a reinterpreting cast)")
    _reshape_emit(t, x, _shape_arg(shape) if shape else tuple(size), y)


def _method_table():
    """Tensor method / ``ember.*`` function name -> emitter (the same emitter serves both)."""
    d = {
        "add": _binary("Add"), "__add__": _binary("Add"), "__radd__": _binary("Add", True),
        "sub": _binary("Sub"), "__sub__": _binary("Sub"), "__rsub__": _binary("Sub", True),
        "mul": _binary("Mul"), "__mul__": _binary("Mul"), "__rmul__": _binary("Mul", True),
        "div": _div, "__truediv__": _div,
        "__rtruediv__": lambda t, y, a, b, rounding_mode=None: _div(t, y, a, b, rounding_mode, True),
        "pow": _binary("Pow"), "__pow__": _binary("Pow"), "__rpow__": _binary("Pow", True),
        "matmul": _binary("MatMul"), "__matmul__": _binary("MatMul"), "__rmatmul__": _binary("MatMul", True),
        "bmm": _binary("MatMul"), "maximum": _binary("Max"), "minimum": _binary("Min"),
        "eq": _compare("Equal"), "__eq__": _compare("Equal"), "ne": _compare("Equal", True),
        "__ne__": _compare("Equal", True), "lt": _compare("Less"), "__lt__": _compare("Less"),
        "le": _compare("LessOrEqual"), "__le__": _compare("LessOrEqual"), "gt": _compare("Greater"),
        "__gt__": _compare("Greater"), "ge": _compare("GreaterOrEqual"), "__ge__": _compare("GreaterOrEqual"),
        "__and__": _logical("And"), "__or__": _logical("Or"), "__xor__": _logical("Xor"),
        "__invert__": _logical("Not"), "logical_not": _logical("Not"), "logical_and": _logical("And"),
        "logical_or": _logical("Or"),
        "neg": _unary("Neg"), "__neg__": _unary("Neg"), "abs": _unary("Abs"), "__abs__": _unary("Abs"),
        "exp": _unary("Exp"), "log": _unary("Log"), "sqrt": _unary("Sqrt"), "sin": _unary("Sin"),
        "cos": _unary("Cos"), "tanh": _unary("Tanh"), "sigmoid": _unary("Sigmoid"), "relu": _unary("Relu"),
        "floor": _unary("Floor"), "ceil": _unary("Ceil"), "erf": _unary("Erf"), "reciprocal": _unary("Reciprocal"),
        "sign": _unary("Sign"),
        "rsqrt": lambda t, y, x: t.node("Reciprocal", [t.node("Sqrt", [t.value(x)])], y),
        "square": lambda t, y, x: t.node("Mul", [t.value(x), t.value(x)], y),
        "log1p": lambda t, y, x: t.node("Log", [t.node("Add", [t.value(x), t.scalar(1.0, _dt(x))])], y),
        "expm1": lambda t, y, x: t.node("Sub", [t.node("Exp", [t.value(x)]), t.scalar(1.0, _dt(x))], y),
        "sum": _reduce_e("ReduceSum"), "mean": _reduce_e("ReduceMean"), "amax": _reduce_e("ReduceMax"),
        "amin": _reduce_e("ReduceMin"), "prod": _reduce_e("ReduceProd"), "max": _max_min("max"),
        "min": _max_min("min"), "argmax": _arg("ArgMax"), "argmin": _arg("ArgMin"), "var": _var_std("var"),
        "std": _var_std("std"), "norm": _norm_e,
        "softmax": _softmax_e("Softmax"), "log_softmax": _softmax_e("LogSoftmax"),
        "view": _view_e,
        "reshape": lambda t, y, x, *s: _reshape_emit(t, x, _shape_arg(s), y),
        "flatten": lambda t, y, x, start_dim=0, end_dim=-1: _flatten_emit(t, x, start_dim, end_dim, y),
        "unflatten": _unflatten_e,
        "permute": lambda t, y, x, *d: t.node("Transpose", [t.value(x)], y,
                                              perm=[int(i) % x.dim() for i in _shape_arg(d)]),
        "transpose": _transpose_e, "swapaxes": _transpose_e, "t": _t_e,
        "unsqueeze": _unsqueeze_e, "squeeze": _squeeze_e, "expand": _expand_e, "repeat": _repeat_e,
        "view_as": _view_as_e, "reshape_as": _view_as_e, "expand_as": _expand_as_e,
        "contiguous": _identity_e, "clone": _identity_e, "detach": _identity_e,
        "to": _cast_e, "float": _cast_e, "double": _cast_e, "long": _cast_e, "int": _cast_e, "bool": _cast_e,
        "type_as": _cast_e,
        "clamp": _clamp_e, "clip": _clamp_e,
        "clamp_min": lambda t, y, x, min: _clamp_e(t, y, x, min, None),
        "clamp_max": lambda t, y, x, max: _clamp_e(t, y, x, None, max), "where": _where_e, "masked_fill": _masked_fill_e,
        "split": _split_e, "chunk": _chunk_e, "unbind": _unbind_e, "__getitem__": _getitem_e,
        "cumsum": _cumsum_e, "triu": _trilu_e(True), "tril": _trilu_e(False),
        "narrow": _narrow_e, "select": _select_e, "index_select": _index_select_e, "gather": _gather_e,
        "flip": _flip_e, "logsumexp": _logsumexp_e, "topk": _topk_e, "tile": _repeat_e,
        "broadcast_to": _expand_e, "ravel": lambda t, y, x: t.node("Reshape", [t.value(x), t.i64([-1])], y),
        "mm": _binary("MatMul"), "mv": _binary("MatMul"), "addmm": _addmm_e, "outer": _outer_e, "ger": _outer_e,
        "movedim": _movedim_e, "moveaxis": _movedim_e, "swapdims": _transpose_e,
        "tan": _unary("Tan"), "asin": _unary("Asin"), "acos": _unary("Acos"), "atan": _unary("Atan"),
        "sinh": _unary("Sinh"), "cosh": _unary("Cosh"), "asinh": _unary("Asinh"), "acosh": _unary("Acosh"),
        "atanh": _unary("Atanh"), "arcsin": _unary("Asin"), "arccos": _unary("Acos"), "arctan": _unary("Atan"),
        "round": _unary("Round"), "isnan": _unary("IsNaN"), "isinf": _unary("IsInf"),
        "log2": _log_base(2.0), "log10": _log_base(10.0),
        "exp2": lambda t, y, x: t.node("Pow", [t.scalar(2.0, _dt(y)), t.value(x)], y),
        "multiply": _binary("Mul"), "subtract": _binary("Sub"), "divide": _div, "true_divide": _div,
        "negative": _unary("Neg"), "absolute": _unary("Abs"), "greater": _compare("Greater"),
        "less": _compare("Less"), "greater_equal": _compare("GreaterOrEqual"), "less_equal": _compare("LessOrEqual"),
        "not_equal": _compare("Equal", True), "logical_xor": _logical("Xor"),
    }
    return d


def _function_table():
    """``ember.*`` functions that are not tensor methods."""
    return {
        "cat": _cat_e, "concat": _cat_e, "concatenate": _cat_e, "stack": _stack_e, "einsum": _einsum_e,
        "zeros_like": _like_e("zeros"), "ones_like": _like_e("ones"), "full_like": _like_e("full"),
        "empty_like": _like_e("zeros"),
    }


# ---------------------------------------------------------------------------- ember.nn.functional


def _act(fn):
    """An activation emitter from fn(tracer, x_value, dtype) -> value."""
    def e(t, y, x, *rest):
        t.out(fn(t, t.value(x), _dt(x), *rest), y)
    return e


def _softplus(t, xi, dt, beta=1.0, threshold=20.0):
    bx = t.node("Mul", [xi, t.scalar(beta, dt)]) if beta != 1 else xi
    sp = t.node("Softplus", [bx])
    if beta != 1:
        sp = t.node("Div", [sp, t.scalar(beta, dt)])
    return t.node("Where", [t.node("Greater", [bx, t.scalar(threshold, dt)]), xi, sp])


def _dropout_e(t, y, x, p=0.5, training=True, *rest):
    if training and p > 0:
        t.fail(f"dropout with training=True (p={p})", "pass training=self.training so the exported model is "
               "deterministic")
    t.node("Identity", [t.value(x)], y)


def _reduce_loss(t, loss, reduction, y, x=None):
    if reduction == "none":
        return t.out(loss, y)
    if reduction == "sum":
        return t.reduce("ReduceSum", loss, None, False, y)
    if reduction == "batchmean":
        n = t.node("Cast", [t.node("Gather", [t.node("Shape", [t.value(x)]), t.i64(0)], axis=0)],
                   to=_elem_type(_dt(x)))
        return t.node("Div", [t.reduce("ReduceSum", loss, None, False), n], y)
    return t.reduce("ReduceMean", loss, None, False, y)


def _legacy(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _pointwise_loss(fn):
    def e(t, y, input, target, size_average=None, reduce=None, reduction="mean", *rest, **kw):
        args = dict(zip(("weight",), rest))
        args.update(kw)
        if args.get("weight") is not None:
            t.fail("a pointwise loss with weight=")
        dt = _dt(input)
        loss = fn(t, t.value(input), _operand(t, target, dt), dt, *rest)
        _reduce_loss(t, loss, _legacy(size_average, reduce, reduction), y, input)
    return e


def _mse(t, a, b, dt, *r):
    d = t.node("Sub", [a, b])
    return t.node("Mul", [d, d])


def _l1(t, a, b, dt, *r):
    return t.node("Abs", [t.node("Sub", [a, b])])


def _smooth_l1_e(t, y, input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    dt = _dt(input)
    d = t.node("Abs", [t.node("Sub", [t.value(input), _operand(t, target, dt)])])
    if beta == 0:
        loss = d
    else:
        quad = t.node("Div", [t.node("Mul", [t.node("Mul", [d, d]), t.scalar(0.5, dt)]), t.scalar(beta, dt)])
        loss = t.node("Where", [t.node("Less", [d, t.scalar(beta, dt)]), quad,
                                t.node("Sub", [d, t.scalar(0.5 * beta, dt)])])
    _reduce_loss(t, loss, _legacy(size_average, reduce, reduction), y, input)


def _huber_e(t, y, input, target, reduction="mean", delta=1.0, weight=None):
    if weight is not None:
        t.fail("huber_loss with weight=")
    dt = _dt(input)
    d = t.node("Abs", [t.node("Sub", [t.value(input), _operand(t, target, dt)])])
    quad = t.node("Mul", [t.node("Mul", [d, d]), t.scalar(0.5, dt)])
    lin = t.node("Mul", [t.node("Sub", [d, t.scalar(0.5 * delta, dt)]), t.scalar(delta, dt)])
    loss = t.node("Where", [t.node("Less", [d, t.scalar(delta, dt)]), quad, lin])
    _reduce_loss(t, loss, reduction, y, input)


def _bce_e(t, y, input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    dt = _dt(input)
    x, tg = t.value(input), _operand(t, target, dt)
    one, floor = t.scalar(1.0, dt), t.scalar(-100.0, dt)
    lx = t.node("Max", [t.node("Log", [x]), floor])  # torch clamps the logs at -100
    l1x = t.node("Max", [t.node("Log", [t.node("Sub", [one, x])]), floor])
    loss = t.node("Neg", [t.node("Add", [t.node("Mul", [tg, lx]), t.node("Mul", [t.node("Sub", [one, tg]), l1x])])])
    if weight is not None:
        loss = t.node("Mul", [loss, _operand(t, weight, dt)])
    _reduce_loss(t, loss, _legacy(size_average, reduce, reduction), y, input)


def _bce_logits_e(t, y, input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                  pos_weight=None):
    dt = _dt(input)
    x, tg = t.value(input), _operand(t, target, dt)
    one = t.scalar(1.0, dt)
    # (1 - t) x + lw (log(1 + exp(-|x|)) + max(-x, 0)), lw = 1 + (pos_weight - 1) t
    sp = t.node("Add", [t.node("Log", [t.node("Add", [one, t.node("Exp", [t.node("Neg", [t.node("Abs", [x])])])])]),
                        t.node("Max", [t.node("Neg", [x]), t.scalar(0.0, dt)])])
    if pos_weight is not None:
        lw = t.node("Add", [one, t.node("Mul", [t.node("Sub", [_operand(t, pos_weight, dt), one]), tg])])
        sp = t.node("Mul", [lw, sp])
    loss = t.node("Add", [t.node("Mul", [t.node("Sub", [one, tg]), x]), sp])
    if weight is not None:
        loss = t.node("Mul", [loss, _operand(t, weight, dt)])
    _reduce_loss(t, loss, _legacy(size_average, reduce, reduction), y, input)


def _nll_like(t, y, input, target, weight, ignore_index, reduction, logp=None):
    dt = _dt(input)
    scores = logp if logp is not None else t.value(input)
    unb = input.dim() == 1
    tg = t.value(target)
    if unb:
        scores, tg = t.unsqueeze(scores, [0]), t.unsqueeze(tg, [0])
    ins = [scores, tg] + ([_operand(t, weight, dt)] if weight is not None else [])
    out = t.node("NegativeLogLikelihoodLoss", ins, ignore_index=int(ignore_index), reduction=reduction)
    if unb and reduction == "none":
        out = t.squeeze(out, [0])
    t.out(out, y)


def _nll_e(t, y, input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    _nll_like(t, y, input, target, weight, ignore_index, _legacy(size_average, reduce, reduction))


def _ce_e(t, y, input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
          label_smoothing=0.0):
    reduction = _legacy(size_average, reduce, reduction)
    dt = _dt(input)
    cax = 0 if input.dim() == 1 else 1
    logp = t.node("LogSoftmax", [t.value(input)], axis=cax)
    C = int(input.shape[cax])
    if _dt(target).kind == "f":  # class probabilities
        tg = t.value(target)
        if label_smoothing:
            tg = t.node("Add", [t.node("Mul", [tg, t.scalar(1 - label_smoothing, dt)]),
                                t.scalar(label_smoothing / C, dt)])
        if weight is not None:
            wshape = [C] + [1] * (input.dim() - cax - 1)
            logp = t.node("Mul", [logp, t.node("Reshape", [_operand(t, weight, dt), t.i64(wshape)])])
        loss = t.node("Neg", [t.reduce("ReduceSum", t.node("Mul", [tg, logp]), [cax], False)])
        _reduce_loss(t, loss, reduction, y, input)
        return
    if not label_smoothing:
        _nll_like(t, y, input, target, weight, ignore_index, reduction, logp=logp)
        return
    if weight is not None:
        t.fail("cross_entropy with class-index targets, weight= and label_smoothing= together")
    nll = t.node("NegativeLogLikelihoodLoss", [logp if input.dim() > 1 else t.unsqueeze(logp, [0]),
                                               t.value(target) if input.dim() > 1 else
                                               t.unsqueeze(t.value(target), [0])],
                 ignore_index=int(ignore_index), reduction="none")
    smooth = t.node("Neg", [t.reduce("ReduceMean", logp if input.dim() > 1 else t.unsqueeze(logp, [0]), [1], False)])
    valid = t.node("Not", [t.node("Equal", [t.value(target), t.i64(int(ignore_index))])])
    if input.dim() == 1:
        valid = t.unsqueeze(valid, [0])
    smooth = t.node("Where", [valid, smooth, t.scalar(0.0, dt)])
    loss = t.node("Add", [t.node("Mul", [nll, t.scalar(1 - label_smoothing, dt)]),
                          t.node("Mul", [smooth, t.scalar(label_smoothing, dt)])])
    if input.dim() == 1:
        loss = t.squeeze(loss, [0])
    if reduction == "mean":  # over the targets that are not ignored
        n = t.node("Cast", [t.reduce("ReduceSum", t.node("Cast", [valid], to=_elem_type(np.int64)), None, False)],
                   to=_elem_type(dt))
        t.node("Div", [t.reduce("ReduceSum", loss, None, False), n], y)
    else:
        _reduce_loss(t, loss, reduction, y, input)


def _kl_e(t, y, input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    dt = _dt(input)
    x, tg = t.value(input), _operand(t, target, dt)
    if log_target:
        loss = t.node("Mul", [t.node("Exp", [tg]), t.node("Sub", [tg, x])])
    else:  # xlogy(t, t) - t * x, 0 where t == 0
        pos = t.node("Greater", [tg, t.scalar(0.0, dt)])
        safe = t.node("Where", [pos, tg, t.scalar(1.0, dt)])
        loss = t.node("Mul", [tg, t.node("Sub", [t.node("Log", [safe]), x])])
        loss = t.node("Where", [pos, loss, t.node("Neg", [t.node("Mul", [tg, x])])])
    _reduce_loss(t, loss, _legacy(size_average, reduce, reduction), y, input)


def _margin_ranking_e(t, y, input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    dt = _dt(input1)
    diff = t.node("Sub", [_operand(t, input1, dt), _operand(t, input2, dt)])
    raw = t.node("Add", [t.node("Neg", [t.node("Mul", [_operand(t, target, dt), diff])]), t.scalar(margin, dt)])
    loss = t.node("Max", [raw, t.scalar(0.0, dt)])
    _reduce_loss(t, loss, _legacy(size_average, reduce, reduction), y, input1)


def _pdist(t, a, b, p, eps, dt):
    d = t.node("Add", [t.node("Sub", [a, b]), t.scalar(eps, dt)])
    return t.reduce("ReduceL2" if p in (2, 2.0) else "ReduceL1", d, [-1], False)


def _triplet_e(t, y, anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None,
               reduce=None, reduction="mean"):
    if p not in (1, 1.0, 2, 2.0):
        t.fail(f"triplet_margin_loss(p={p})", "p=1 and p=2 are mapped")
    dt = _dt(anchor)
    a, po, ne = (_operand(t, v, dt) for v in (anchor, positive, negative))
    d_pos, d_neg = _pdist(t, a, po, p, eps, dt), _pdist(t, a, ne, p, eps, dt)
    if swap:
        d_neg = t.node("Min", [d_neg, _pdist(t, po, ne, p, eps, dt)])
    loss = t.node("Max", [t.node("Add", [t.node("Sub", [d_pos, d_neg]), t.scalar(margin, dt)]), t.scalar(0.0, dt)])
    _reduce_loss(t, loss, _legacy(size_average, reduce, reduction), y, anchor)


def _cosine_embedding_e(t, y, input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    dt = _dt(input1)
    a, b, tg = _operand(t, input1, dt), _operand(t, input2, dt), _operand(t, target, dt)
    ax = [input1.dim() - 1]
    eps = t.scalar(1e-12, dt)
    prod = t.reduce("ReduceSum", t.node("Mul", [a, b]), ax, False)
    m1 = t.node("Add", [t.reduce("ReduceSum", t.node("Mul", [a, a]), ax, False), eps])
    m2 = t.node("Add", [t.reduce("ReduceSum", t.node("Mul", [b, b]), ax, False), eps])
    cos = t.node("Div", [prod, t.node("Sqrt", [t.node("Mul", [m1, m2])])])
    pos = t.node("Sub", [t.scalar(1.0, dt), cos])
    neg = t.node("Max", [t.node("Sub", [cos, t.scalar(margin, dt)]), t.scalar(0.0, dt)])
    zero = t.scalar(0.0, dt)
    loss = t.node("Where", [t.node("Equal", [tg, t.scalar(1.0, dt)]), pos,
                            t.node("Where", [t.node("Equal", [tg, t.scalar(-1.0, dt)]), neg, zero])])
    _reduce_loss(t, loss, _legacy(size_average, reduce, reduction), y, input1)


def _hinge_e(t, y, input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    dt = _dt(input)
    x, tg = t.value(input), _operand(t, target, dt)
    zero = t.scalar(0.0, dt)
    a = t.node("Where", [t.node("Equal", [tg, t.scalar(1.0, dt)]), x, zero])
    b = t.node("Where", [t.node("Equal", [tg, t.scalar(-1.0, dt)]),
                         t.node("Max", [t.node("Sub", [t.scalar(margin, dt), x]), zero]), zero])
    _reduce_loss(t, t.node("Add", [a, b]), _legacy(size_average, reduce, reduction), y, input)


def _soft_margin_e(t, y, input, target, size_average=None, reduce=None, reduction="mean"):
    dt = _dt(input)
    z = t.node("Neg", [t.node("Mul", [_operand(t, target, dt), t.value(input)])])
    _reduce_loss(t, _softplus(t, z, dt), _legacy(size_average, reduce, reduction), y, input)


def _gaussian_nll_e(t, y, input, target, var, full=False, eps=1e-6, reduction="mean"):
    dt = _dt(input)
    v = t.node("Max", [_operand(t, var, dt), t.scalar(eps, dt)])
    d = t.node("Sub", [t.value(input), _operand(t, target, dt)])
    loss = t.node("Mul", [t.node("Add", [t.node("Log", [v]), t.node("Div", [t.node("Mul", [d, d]), v])]),
                          t.scalar(0.5, dt)])
    if full:
        loss = t.node("Add", [loss, t.scalar(0.5 * math.log(2 * math.pi), dt)])
    _reduce_loss(t, loss, reduction, y, input)


def _sdpa_e(t, y, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    if dropout_p:
        t.fail(f"scaled_dot_product_attention(dropout_p={dropout_p})", "pass dropout_p=0.0 outside training")
    dt = _dt(query)
    d = int(query.shape[-1])
    nd = key.dim()
    kt = t.node("Transpose", [t.value(key)], perm=list(range(nd - 2)) + [nd - 1, nd - 2])
    mask = attn_mask
    L, S = int(query.shape[-2]), int(key.shape[-2])
    if mask is None and is_causal and L == S:
        madd = _causal_mask(t, t.value(query), query.dim() - 2, dt)
    else:
        if mask is None and is_causal:
            mask = np.triu(np.ones((L, S), bool), 1)
        madd = _norm_mask(t, mask, dt) if mask is not None else None
    o, _ = _attention(t, t.value(query), kt, t.value(value), scale if scale is not None else 1.0 / math.sqrt(d),
                      dt, madd)
    t.out(o, y)


def _pad_f(t, y, input, pad, mode="constant", value=None):
    _pad_emit(t, input, t.value(input), pad, mode, value, y)


def _normalize_e(t, y, input, p=2.0, dim=1, eps=1e-12, out=None):
    if p not in (1, 1.0, 2, 2.0):
        t.fail(f"normalize(p={p})", "p=1 and p=2 are mapped")
    xi = t.value(input)
    n = t.reduce("ReduceL2" if p in (2, 2.0) else "ReduceL1", xi, [int(dim) % input.dim()], True)
    t.node("Div", [xi, t.node("Max", [n, t.scalar(eps, _dt(input))])], y)


def _pairwise_e(t, y, x1, x2, p=2.0, eps=1e-6, keepdim=False):
    if p not in (1, 1.0, 2, 2.0):
        t.fail(f"pairwise_distance(p={p})", "p=1 and p=2 are mapped")
    dt = _dt(x1)
    d = t.node("Add", [t.node("Sub", [_operand(t, x1, dt), _operand(t, x2, dt)]), t.scalar(eps, dt)])
    t.reduce("ReduceL2" if p in (2, 2.0) else "ReduceL1", d, [-1], keepdim, y)


def _bilinear_e(t, y, input1, input2, weight, bias=None):
    h = t.node("Einsum", [t.value(input1), t.value(weight), t.value(input2)], equation="...i,oij,...j->...o")
    if bias is not None:
        h = t.node("Add", [h, t.value(bias)])
    t.out(h, y)


def _prelu_mod(t, m, x, y):
    _prelu_e(t, y, x, m.weight)


def _prelu_e(t, y, input, weight):
    w = t.value(weight)
    if input.dim() > 2 and weight.numel() > 1:
        w = t.node("Reshape", [w, t.i64([int(weight.numel())] + [1] * (input.dim() - 2))])
    t.node("PRelu", [t.value(input), w], y)


def _glu_e(t, y, input, dim=-1):
    ax = int(dim) % input.dim()
    h = int(input.shape[ax]) // 2
    a, b = t.multi("Split", [t.value(input), t.i64([h, h])], 2, axis=ax)
    t.node("Mul", [a, t.node("Sigmoid", [b])], y)


def _as_module(label, **attrs):
    import types

    return types.SimpleNamespace(_label=label, **attrs)


def _mname(m):
    return getattr(m, "_label", None) or type(m).__name__


def _conv_f(t, y, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    m = _as_module(f"conv{input.dim() - 2}d", weight=weight, bias=bias, stride=stride, padding=padding,
                   dilation=dilation, groups=groups, kernel_size=tuple(int(k) for k in weight.shape[2:]),
                   padding_mode="zeros")
    _conv(t, m, input, y)


def _conv_transpose_f(t, y, input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    nd = input.dim() - 2
    m = _as_module(f"conv_transpose{nd}d", weight=weight, bias=bias, stride=stride, padding=padding,
                   dilation=dilation, groups=groups, kernel_size=tuple(int(k) for k in weight.shape[2:]),
                   _output_padding=lambda x, size: _ints(output_padding, nd))
    _conv_transpose(t, m, (input,), {}, y)


def _max_pool_f(t, y, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    m = _as_module(f"max_pool{input.dim() - 2}d", kernel_size=kernel_size, stride=stride, padding=padding,
                   dilation=dilation, ceil_mode=ceil_mode,
                   return_indices=return_indices)
    _pool("max")(t, m, input, y)


def _avg_pool_f(t, y, input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
    m = _as_module(f"avg_pool{input.dim() - 2}d", kernel_size=kernel_size, stride=stride, padding=padding,
                   ceil_mode=ceil_mode,
                   count_include_pad=count_include_pad, divisor_override=divisor_override)
    _pool("avg")(t, m, input, y)


def _adaptive_f(kind):
    def e(t, y, input, output_size, return_indices=False):
        m = _as_module(f"adaptive_{kind}_pool{input.dim() - 2}d", output_size=output_size,
                       return_indices=return_indices)
        _adaptive(kind)(t, m, input, y)
    return e


def _batch_norm_f(t, y, input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                  eps=1e-5):
    if training or running_mean is None:
        t.fail("batch_norm with training=True (batch statistics)", "pass training=self.training")
    m = _as_module("batch_norm", running_mean=running_mean, running_var=running_var, weight=weight, bias=bias, eps=eps,
                   num_features=int(input.shape[1]))
    _bn(t, m, input, y)


def _functional_table():
    return {
        "relu": _unary("Relu"), "tanh": _unary("Tanh"), "sigmoid": _unary("Sigmoid"),
        "relu6": _act(lambda t, x, dt, *r: t.node("Clip", [x, t.scalar(0.0, dt), t.scalar(6.0, dt)])),
        "leaky_relu": _act(lambda t, x, dt, a=0.01, *r: t.node("LeakyRelu", [x], alpha=float(a))),
        "elu": _act(lambda t, x, dt, a=1.0, *r: t.node("Elu", [x], alpha=float(a))),
        "selu": _act(lambda t, x, dt, *r: t.node("Selu", [x])),
        "celu": _act(lambda t, x, dt, a=1.0, *r: t.node("Celu", [x], alpha=float(a))),
        "gelu": _act(lambda t, x, dt, approximate="none": _gelu_emit(t, x, dt, approximate, None)),
        "silu": _act(lambda t, x, dt, *r: t.node("Mul", [x, t.node("Sigmoid", [x])])),
        "mish": _act(lambda t, x, dt, *r: t.node("Mul", [x, t.node("Tanh", [_softplus(t, x, dt)])])),
        "softplus": _act(_softplus),
        "hardtanh": _act(lambda t, x, dt, lo=-1.0, hi=1.0, *r: t.node("Clip", [x, t.scalar(lo, dt),
                                                                                 t.scalar(hi, dt)])),
        "hardsigmoid": _act(lambda t, x, dt, *r: t.node("HardSigmoid", [x], alpha=1 / 6, beta=0.5)),
        "hardswish": _act(lambda t, x, dt, *r: t.node("HardSwish", [x])),
        "softsign": _act(lambda t, x, dt: t.node("Softsign", [x])),
        "tanhshrink": _act(lambda t, x, dt: t.node("Sub", [x, t.node("Tanh", [x])])),
        "logsigmoid": _act(lambda t, x, dt: t.node("Neg", [_softplus(t, t.node("Neg", [x]), dt)])),
        "hardshrink": _act(lambda t, x, dt, lambd=0.5: t.node("Shrink", [x], lambd=float(lambd), bias=0.0)),
        "softshrink": _act(lambda t, x, dt, lambd=0.5: t.node("Shrink", [x], lambd=float(lambd),
                                                              bias=float(lambd))),
        "threshold": _act(lambda t, x, dt, th, val, *r: t.node("Where", [t.node("Greater", [x, t.scalar(th, dt)]),
                                                                          x, t.scalar(val, dt)])),
        "rrelu": _act(lambda t, x, dt, lo=0.125, hi=1 / 3, training=False, *r: t.node(
            "LeakyRelu", [x], alpha=float((lo + hi) / 2)) if not training else t.fail("rrelu(training=True)")),
        "softmax": _softmax_e("Softmax"), "log_softmax": _softmax_e("LogSoftmax"),
        "softmin": _softmax_e("Softmax", neg=True), "glu": _glu_e, "prelu": _prelu_e,
        "dropout": _dropout_e, "dropout1d": _dropout_e, "dropout2d": _dropout_e, "dropout3d": _dropout_e,
        "alpha_dropout": _dropout_e, "feature_alpha_dropout": _dropout_e,
        "linear": lambda t, y, x, w, b=None: _linear(t, type("L", (), {"weight": w, "bias": b})(), x, y),
        "bilinear": _bilinear_e,
        "layer_norm": lambda t, y, x, ns, w=None, b=None, eps=1e-5: _layernorm_emit(t, x, ns, w, b, eps, y),
        "group_norm": lambda t, y, x, g, w=None, b=None, eps=1e-5: _groupnorm_emit(t, x, g, w, b, eps, y),
        "rms_norm": lambda t, y, x, ns, w=None, eps=None: _rmsnorm_emit(t, x, ns, w, eps, y),
        "pad": _pad_f,
        "interpolate": lambda t, y, x, size=None, scale_factor=None, mode="nearest", align_corners=None, *r:
            _interp_emit(t, x, size, scale_factor, mode, align_corners, y),
        "pixel_shuffle": lambda t, y, x, r: _pixel_shuffle_emit(t, x, int(r), y),
        "pixel_unshuffle": lambda t, y, x, r: _pixel_unshuffle_emit(t, x, int(r), y),
        "channel_shuffle": lambda t, y, x, g: _channel_shuffle_emit(t, x, g, y),
        "scaled_dot_product_attention": _sdpa_e, "normalize": _normalize_e, "pairwise_distance": _pairwise_e,
        "embedding": lambda t, y, x, w, *r: t.node("Gather", [t.value(w), t.value(x)], y, axis=0),
        "mse_loss": _pointwise_loss(_mse), "l1_loss": _pointwise_loss(_l1), "smooth_l1_loss": _smooth_l1_e,
        "huber_loss": _huber_e, "binary_cross_entropy": _bce_e, "binary_cross_entropy_with_logits": _bce_logits_e,
        "conv1d": _conv_f, "conv2d": _conv_f, "conv3d": _conv_f, "conv_transpose1d": _conv_transpose_f,
        "conv_transpose2d": _conv_transpose_f, "conv_transpose3d": _conv_transpose_f,
        "max_pool1d": _max_pool_f, "max_pool2d": _max_pool_f, "max_pool3d": _max_pool_f,
        "avg_pool1d": _avg_pool_f, "avg_pool2d": _avg_pool_f, "avg_pool3d": _avg_pool_f,
        "adaptive_avg_pool1d": _adaptive_f("avg"), "adaptive_avg_pool2d": _adaptive_f("avg"),
        "adaptive_avg_pool3d": _adaptive_f("avg"), "adaptive_max_pool1d": _adaptive_f("max"),
        "adaptive_max_pool2d": _adaptive_f("max"), "adaptive_max_pool3d": _adaptive_f("max"),
        "batch_norm": _batch_norm_f,
        "cross_entropy": _ce_e, "nll_loss": _nll_e, "kl_div": _kl_e, "margin_ranking_loss": _margin_ranking_e,
        "triplet_margin_loss": _triplet_e, "cosine_embedding_loss": _cosine_embedding_e,
        "hinge_embedding_loss": _hinge_e, "soft_margin_loss": _soft_margin_e, "gaussian_nll_loss": _gaussian_nll_e,
    }


# ---------------------------------------------------------------------------- the patching


def _is_default(v, d):
    return v is d or (type(v) is type(d) and isinstance(v, (bool, int, float, str)) and v == d)


def _bind_values(sig, args, kwargs):
    """(positional values, keyword-only values) of a call, defaults filled in and *args spread."""
    if sig is None:
        return list(args), dict(kwargs)
    ba = sig.bind(*args, **kwargs)
    ba.apply_defaults()
    vals, kw = [], {}
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            vals.extend(ba.arguments[p.name])
        elif p.kind is inspect.Parameter.KEYWORD_ONLY:
            v = ba.arguments[p.name]
            if not _is_default(v, p.default):  # torch's out=/layout=/... left at their defaults map to nothing
                kw[p.name] = v
        elif p.kind is not inspect.Parameter.VAR_KEYWORD:
            vals.append(ba.arguments[p.name])
    return vals, kw


def _traced(v):
    """Whether ``v`` (a tensor, or a list/tuple holding tensors) depends on the traced inputs or parameters."""
    from ember import Tensor

    if isinstance(v, Tensor):
        return _T.known(v) or v.grad_fn is not None or v.requires_grad
    if isinstance(v, (tuple, list)):
        return any(_traced(u) for u in v)
    return False


def _wrap(label, orig, emit):
    try:
        sig = inspect.signature(orig)
    except (TypeError, ValueError):
        sig = None

    def wrapper(*args, **kwargs):
        if not _active():
            return orig(*args, **kwargs)
        t = _T
        before = t.names_of(args)
        t.suspended += 1
        try:
            y = orig(*args, **kwargs)
        finally:
            t.suspended -= 1
        t.reread_rewritten(before, args, y)  # F.relu(x, inplace=True)
        if not (any(_traced(a) for a in args) or any(_traced(a) for a in kwargs.values())):
            return y  # only constants in, a constant out: it becomes an initializer where it is used
        t.suspended += 1  # the emitter's own tensor calls are not recorded
        try:
            vals, kw = _bind_values(sig, args, kwargs)
            emit(t, y, *vals, **kw)
        except UnsupportedOperatorError:
            raise
        except (TypeError, ValueError, IndexError, KeyError, AttributeError) as e:
            raise UnsupportedOperatorError(f"ember.onnx.export: {label} called with arguments this exporter does "
                                           f"not map (in module {t.where()}): {type(e).__name__}: {e}") from None
        finally:
            t.suspended -= 1
        return y
    wrapper.__wrapped__ = orig
    return wrapper


def _wrap_unmapped(label, orig):
    """A public op with no mapping: when it is applied to a traced value and returns a tensor, the export fails
    here, naming it (instead of later through its grad_fn, or never for integer and bool values)."""
    def wrapper(*args, **kwargs):
        if not _active():
            return orig(*args, **kwargs)
        t = _T
        t.suspended += 1
        try:
            y = orig(*args, **kwargs)
        finally:
            t.suspended -= 1
        if any(_dynamic(t, a) for a in args) or any(_dynamic(t, a) for a in kwargs.values()):
            outs = [o for o in _flat(y if isinstance(y, (tuple, list)) else [y]) if _is_t(o)]
            if outs:
                fn = next((o.grad_fn for o in outs if o.grad_fn is not None), None)
                raise UnsupportedOperatorError(
                    f"ember.onnx.export: the op {label}{' (' + fn.name() + ')' if fn is not None else ''} (in module "
                    f"{t.where()}) has no ONNX mapping in ember's exporter. Rewrite that part with mapped ops (see "
                    "docs/onnx.md) or export a model without it.")
        return y
    wrapper.__wrapped__ = orig
    return wrapper


def _dynamic(t, v):
    """Whether ``v`` holds a value computed from the graph's inputs (not only from parameters and constants)."""
    if _is_t(v):
        e = t.names.get(id(v))
        return (e is not None and e[0] not in t.init_names) or v.grad_fn is not None
    if isinstance(v, (tuple, list)):
        return any(_dynamic(t, u) for u in v)
    return False


# Tensor methods that read no values (or only metadata): never an error
_NOT_VALUES = {"new_empty", "new_empty_strided", "new_full", "new_ones", "new_tensor", "new_zeros",
               "requires_grad_", "retain_grad", "register_hook", "cpu", "cuda", "pin_memory", "share_memory_",
               "backward", "detach_", "size", "dim", "numel", "nelement", "ndimension", "stride", "element_size",
               "data_ptr", "get_device", "storage_offset", "untyped_storage", "type", "numpy", "item", "tolist",
               "is_complex", "is_conj", "is_contiguous", "is_floating_point", "is_inference", "is_neg",
               "is_same_size", "is_shared", "is_signed", "is_nonzero", "equal", "allclose", "zero_",
               "uniform_", "normal_", "fill_", "copy_"}
_UNMAPPED_DUNDERS = ("__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__lshift__", "__rshift__")


_INPLACE = {"__iadd__": "add", "__isub__": "sub", "__imul__": "mul", "__itruediv__": "__truediv__",
            "add_": "add", "sub_": "sub", "mul_": "mul", "div_": "__truediv__", "relu_": "relu",
            "clamp_": "clamp", "masked_fill_": "masked_fill", "neg_": "neg", "exp_": "exp"}


def _wrap_inplace(label, orig, emit):
    """``x += y``-style ops: the result is ``x`` itself, rebound to the new value's name."""
    def wrapper(x, *args, **kwargs):
        if not _active():
            return orig(x, *args, **kwargs)
        t = _T
        traced = _traced(x) or any(_traced(a) for a in args)
        t.suspended += 1
        old = t.value(x) if traced else None
        try:
            y = orig(x, *args, **kwargs)
        finally:
            t.suspended -= 1
        if traced:
            t.names[id(x)] = (old, x.grad_fn)  # the emitter reads the value before the update
            t.suspended += 1
            try:
                emit(t, x, x, *args, **kwargs)
            except (TypeError, ValueError) as e:
                raise UnsupportedOperatorError(f"ember.onnx.export: {label} called with arguments this exporter "
                                               f"does not map (in module {t.where()}): {e}") from None
            finally:
                t.suspended -= 1
        return y
    return wrapper


@contextlib.contextmanager
def _patched(model, tracer):
    global _T
    import ember
    from ember import Tensor, nn

    handlers = _module_handlers()
    orig_call = nn.Module.__call__
    act_wrappers = {}

    def module_call(self, *args, **kwargs):
        if not _active():
            return orig_call(self, *args, **kwargs)
        t = _T
        t.enter(self)
        try:
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
                t.suspended += 1
                try:
                    for o in _flat(y):
                        if isinstance(o, Tensor) and o.grad_fn is not None and not t.known(o):
                            t.value(o)  # raises, naming the op and this module's path
                finally:
                    t.suspended -= 1
                return y
            t.suspended += 1  # the layer runs, and its ONNX nodes are emitted, without recording inside
            try:
                before = t.names_of(args)
                y = orig_call(self, *args, **kwargs)
                t.reread_rewritten(before, args, y)  # nn.ReLU(inplace=True)
                h(t, self, args, kwargs, y)
            finally:
                t.suspended -= 1
            return y
        finally:
            t.path.pop()

    saved = [(nn.Module, "__call__", orig_call)]
    nn.Module.__call__ = module_call
    methods = _method_table()
    for name, emit in methods.items():
        orig = Tensor.__dict__.get(name)
        if orig is not None:
            saved.append((Tensor, name, orig))
            setattr(Tensor, name, _wrap(f"Tensor.{name}", orig, emit))
        f = ember.__dict__.get(name)
        if callable(f) and not isinstance(f, type) and not name.startswith("__"):
            saved.append((ember, name, f))
            setattr(ember, name, _wrap(f"ember.{name}", f, emit))
    for name, emit in _function_table().items():
        f = ember.__dict__.get(name)
        if f is not None:
            saved.append((ember, name, f))
            setattr(ember, name, _wrap(f"ember.{name}", f, emit))
    for name, base in _INPLACE.items():
        orig = Tensor.__dict__.get(name)
        if orig is not None:
            saved.append((Tensor, name, orig))
            setattr(Tensor, name, _wrap_inplace(f"Tensor.{name}", orig, methods[base]))
    for name, emit in (("T", _T_e), ("mT", _mT_e)):
        prop = Tensor.__dict__.get(name)
        if isinstance(prop, property):
            saved.append((Tensor, name, prop))
            setattr(Tensor, name, property(_wrap(f"Tensor.{name}", prop.fget, emit)))
    done = set(methods) | set(_INPLACE) | _NOT_VALUES
    for name, obj in list(Tensor.__dict__.items()):
        if name in done or not inspect.isfunction(obj) or (name.startswith("_") and name not in _UNMAPPED_DUNDERS):
            continue
        saved.append((Tensor, name, obj))
        setattr(Tensor, name, _wrap_unmapped(f"Tensor.{name}", obj))
    funcs = _function_table()
    for name, obj in list(ember.__dict__.items()):
        if name in methods or name in funcs or name.startswith("_") or not inspect.isfunction(obj):
            continue
        saved.append((ember, name, obj))
        setattr(ember, name, _wrap_unmapped(f"ember.{name}", obj))
    import ember.nn.functional as F

    ftable = _functional_table()
    for name, obj in list(F.__dict__.items()):
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        emit = ftable.get(name)
        w = _wrap(f"ember.nn.functional.{name}", obj, emit) if emit is not None else \
            _wrap_unmapped(f"ember.nn.functional.{name}", obj)
        saved.append((F, name, obj))
        setattr(F, name, w)
        act_wrappers[obj] = w
    _T = tracer
    try:
        yield
    finally:
        _T = None
        for obj, name, orig in reversed(saved):
            setattr(obj, name, orig)


def _flat(y):
    if isinstance(y, (tuple, list)):
        for v in y:
            yield from _flat(v)
    elif y is not None:
        yield y


# ---------------------------------------------------------------------------- export


def _elem_type(dtype):
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _fold_constants(nodes, inits, opset):
    """Evaluate (with onnx's reference evaluator) every node whose inputs are all initializers, e.g. the
    transposed weights of Linear layers and ops your forward applies to parameters; their results become
    initializers."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    values = {i.name: numpy_helper.to_array(i) for i in inits}
    kept, new = [], []
    for n in nodes:
        ins = [i for i in n.input if i]
        if not ins or not all(i in values for i in ins):
            kept.append(n)
            continue
        g = helper.make_graph([n], "fold", [helper.make_tensor_value_info(i, _elem_type(values[i].dtype),
                                                                         list(values[i].shape)) for i in ins],
                              [helper.make_empty_tensor_value_info(o) for o in n.output])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        try:
            outs = ReferenceEvaluator(model).run(None, {i: values[i] for i in ins})
        except Exception:  # noqa: BLE001 - a node the reference evaluator cannot run stays in the graph
            kept.append(n)
            continue
        for name, arr in zip(n.output, outs):
            arr = np.asarray(arr)
            values[name] = arr
            new.append(numpy_helper.from_array(arr, name))
    return kept, list(inits) + new


class TrainingMode(enum.Enum):
    """torch.onnx.TrainingMode: ember exports eval-mode behaviour (EVAL, or PRESERVE on a model in eval mode)."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


# torch.onnx.export options that ember accepts with their default value only (they select torch's exporter
# internals, reports and file layout); another value is an error naming the option
_DEFAULT_ONLY = {"external_data": True, "report": False, "optimize": True, "profile": False,
                 "dump_exported_program": False, "custom_opsets": None, "export_modules_as_functions": False,
                 "autograd_inlining": True, "custom_translation_table": None, "dynamic_shapes": None}


def export(model, args=(), f=None, input_names=None, output_names=None, dynamic_axes=None, opset_version=None,
           do_constant_folding=True, export_params=True, verbose=False, training=None, *, kwargs=None, dynamo=None,
           keep_initializers_as_inputs=False, verify=False, artifacts_dir=".", operator_export_type=None,
           **options):
    """Trace ``model(*args, **kwargs)`` once in eval mode and write an ONNX model to ``f`` (a path or a binary file).

    ``input_names`` / ``output_names`` name the graph's inputs and outputs (default ``input_0``...,
    ``output_0``...; nested input and output tuples are flattened, tensors in ``kwargs`` follow ``args``);
    ``dynamic_axes`` maps those names to the axes that may vary (``{"x": {0: "batch"}}`` or ``{"x": [0]}``).
    ``opset_version`` defaults to 17. ``do_constant_folding=True`` evaluates the subgraphs that depend only on
    parameters and constants (the transposed weights of ``Linear`` layers, ops your forward applies to
    parameters) and stores their results; ``False`` keeps those ops in the graph. ``verify=True`` runs the
    file with onnxruntime on the example inputs and raises if it disagrees with ember (1e-5 relative).
    ``keep_initializers_as_inputs=True`` also lists the parameters as graph inputs. ``dynamo`` is accepted
    with either value: ember has one exporter, this tracer. Returns None."""
    onnx = _require_onnx()
    from onnx import helper

    from ember import Tensor, enable_grad

    for k, v in options.items():
        if k not in _DEFAULT_ONLY:
            raise TypeError(f"ember.onnx.export got an unexpected argument {k!r}")
        if v != _DEFAULT_ONLY[k]:
            raise ValueError(f"ember.onnx.export: {k}={v!r} is not supported; ember accepts only the default "
                             f"{k}={_DEFAULT_ONLY[k]!r} (see docs/onnx.md)")
    if f is None:
        raise TypeError("ember.onnx.export: f (a path or a binary file object) is required; ember writes the model "
                        "there (it has no ONNXProgram object to return)")
    if not export_params:
        raise ValueError("ember.onnx.export: export_params=False is not supported (parameters are always stored)")
    if operator_export_type is not None and getattr(operator_export_type, "name", operator_export_type) != "ONNX":
        raise ValueError(f"ember.onnx.export: operator_export_type={operator_export_type!r} is not supported; "
                         "ember emits standard ONNX operators only")
    mode = getattr(training, "name", training)
    if mode not in (None, "EVAL", "PRESERVE"):
        raise ValueError(f"ember.onnx.export: training={training!r} is not supported; ember exports eval-mode "
                         "behaviour (TrainingMode.EVAL)")
    if mode == "PRESERVE" and getattr(model, "training", False):
        raise ValueError("ember.onnx.export: training=TrainingMode.PRESERVE on a model in training mode would "
                         "export training behaviour (random dropout, batch statistics), which ember does not; "
                         "call model.eval() or pass training=TrainingMode.EVAL")
    opset = _DEFAULT_OPSET if opset_version is None else int(opset_version)
    if opset < 17:
        raise ValueError(f"ember.onnx.export: opset_version={opset} is not supported; use 17 or newer "
                         "(LayerNormalization needs 17)")
    if isinstance(args, Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    kwargs = dict(kwargs or {})
    if not isinstance(args, tuple) or not all(isinstance(a, Tensor) for a in _flat(args)):
        raise TypeError("ember.onnx.export: args must be a Tensor or a tuple of Tensors (the example inputs; "
                        "nested tuples such as (x, (h0, c0)) are flattened into graph inputs)")
    kw_tensors = [k for k, v in kwargs.items() if isinstance(v, Tensor)]
    structure, args = args, tuple(_flat(args)) + tuple(kwargs[k] for k in kw_tensors)
    n_in = len(args)
    if not n_in:
        raise TypeError("ember.onnx.export: give the example inputs in args (or as tensors in kwargs)")
    n_pos = n_in - len(kw_tensors)
    input_names = list(input_names) if input_names is not None else \
        [f"input_{i}" for i in range(n_pos)] + kw_tensors
    if len(input_names) != n_in:
        raise ValueError(f"ember.onnx.export: {len(input_names)} input_names for {n_in} inputs")
    was_training = getattr(model, "training", False)
    if was_training:
        warnings.warn("ember.onnx.export: the model is in training mode; it is exported in eval mode (dropout off, "
                      "BatchNorm with running statistics), as torch.onnx.export does. Call model.eval() first to "
                      "silence this.", UserWarning, stacklevel=2)
    tracer = _Tracer(model, onnx, opset)
    ins = []
    for a, name in zip(args, input_names):
        x = a.detach()
        if x.is_floating_point():
            x = x.requires_grad_(True)
        tracer.bind(x, name)
        ins.append(x)
    it = iter(ins)

    def rebuild(v):
        return type(v)(rebuild(u) for u in v) if isinstance(v, (tuple, list)) else next(it)

    call_args = rebuild(structure)
    call_kwargs = dict(kwargs)
    for k in kw_tensors:
        call_kwargs[k] = next(it)
    try:
        model.eval()
        with enable_grad(), _patched(model, tracer):
            out = model(*call_args, **call_kwargs)
    finally:
        model.train(was_training)
    outs = list(_flat(out))
    if not outs or not all(isinstance(o, Tensor) for o in outs):
        raise TypeError("ember.onnx.export: the model must return a Tensor or a (nested) tuple of Tensors")
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

    tracer.suspended += 1
    srcs = [tracer.value(o) for o in outs]
    nodes, inits = tracer.nodes, tracer.inits
    if do_constant_folding:
        nodes, inits = _fold_constants(nodes, inits, opset)
    nodes = list(nodes) + [helper.make_node("Identity", [s], [n], name=f"output/{n}") for s, n in zip(srcs, output_names)]
    used = {i for n in nodes for i in n.input}
    inits = [i for i in inits if i.name in used]
    g_in = [helper.make_tensor_value_info(n, _elem_type(a.detach().numpy().dtype), dims(n, a.shape))
            for a, n in zip(args, input_names)]
    g_out = [helper.make_tensor_value_info(n, _elem_type(o.detach().numpy().dtype), dims(n, o.shape))
             for o, n in zip(outs, output_names)]
    if keep_initializers_as_inputs:
        g_in += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in inits]
    graph = helper.make_graph(nodes, type(model).__name__, g_in, g_out, initializer=inits)
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
    if verify:
        _verify(data, args, input_names, outs, output_names)


def _verify(data, args, input_names, outs, output_names):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError("ember.onnx.export(verify=True) runs the model with onnxruntime: pip install "
                          "'ember[onnx]' (or pip install onnxruntime)") from None
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = sess.run(None, {n: a.detach().numpy() for n, a in zip(input_names, args)})
    for g, o, name in zip(got, outs, output_names):
        want = o.detach().numpy()
        tol = 1e-5 * max(1.0, float(np.abs(want).max())) if want.size and want.dtype.kind == "f" else 0
        if g.shape != want.shape or not np.allclose(g, want, rtol=1e-5, atol=tol, equal_nan=True):
            err = float(np.abs(g - want).max()) if g.shape == want.shape else None
            raise RuntimeError(f"ember.onnx.export(verify=True): onnxruntime's {name} differs from ember's "
                               f"(shapes {g.shape} and {want.shape}, largest difference {err}); please report it")
