"""Linear algebra: ``matmul`` and its family, ``einsum``, ``addmm``/``baddbmm``, ``kron``, and the ``torch.*``
forms of ``ember.linalg`` functions (``det``, ``svd``...)."""
from __future__ import annotations

import builtins

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.engine import Node
from ..autograd.functional_ns import matmul as _matmul
from ._registry import tensor_method
from ._helpers import _dim, _public, _pyabs
from .creation import ones_like, zeros
from .binary import _promote, clamp, where
from .reduce import norm, sum
from .shape import broadcast_tensors, cat, diagonal, permute, reshape, stack, transpose, unbind, unsqueeze
from .index import IndexPut
from .. import _out
from .. import _autocast as _ac


class MatMul(Node):
    name = "MmBackward0"
    saves = {0: (1,), 1: (0,)}

    def forward(self, a, b):
        self.sa, self.sb = a.shape, b.shape
        return _matmul(a, b)

    def backward(self, ns, g, ins, out):
        a, b = ins
        need = self.needs
        ga = gb = None
        a, b = ns.conj(a), ns.conj(b)
        a1, b1 = len(self.sa) == 1, len(self.sb) == 1
        if a1 and b1:  # dot
            return (g * b if need[0] else None), (g * a if need[1] else None)
        if need[0]:
            if b1:
                ga = ns.matmul(ns.reshape(g, tuple(g.shape) + (1,)), ns.reshape(b, (1, b.shape[0])))
            elif a1:
                ga = ns.matmul(ns.reshape(g, tuple(g.shape[:-1]) + (1, g.shape[-1])), ns.swap_last(b))
                ga = ns.reshape(ga, tuple(ga.shape[:-2]) + (ga.shape[-1],))
            else:
                ga = ns.matmul(g, ns.swap_last(b))
        if need[1]:
            if a1:
                gb = ns.matmul(ns.reshape(a, (a.shape[0], 1)), ns.reshape(g, tuple(g.shape[:-1]) + (1, g.shape[-1])))
            elif b1:
                gb = ns.matmul(ns.swap_last(a), ns.reshape(g, tuple(g.shape) + (1,)))
                gb = ns.reshape(gb, tuple(gb.shape[:-1]))
            else:
                gb = ns.matmul(ns.swap_last(a), g)
        return ga, gb


def _mm_error(op, a, b, why):
    return RuntimeError(f"{op}: {why}")


@tensor_method(dunder="__matmul__")
def matmul(input, other, *, out=None):
    """Matrix product with torch's rules: 1-D vectors, batch broadcasting, ``@``."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list (out=: not cast)
        return _ac.run(_ac.LOWER if out is None else _ac.NONE, matmul, input, other, out=out)
    if out is not None:
        return _out.into(out, "matmul", matmul, input, other, exact_dtype=True)
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError(
            f"matmul: both arguments must be Tensors, got {type(input).__name__} and {type(other).__name__}"
        )
    sa, sb = tuple(input.shape), tuple(other.shape)
    if input.ndim == 0 or other.ndim == 0:
        raise RuntimeError(
            f"matmul: both arguments to matmul need to be at least 1D, but they are {input.ndim}D and {other.ndim}D "
            f"(shapes {sa} and {sb}); use * for scalar multiplication"
        )
    if input._data.dtype != other._data.dtype:
        raise RuntimeError(
            f"matmul: expected both tensors to have the same dtype, but got {input.dtype} and {other.dtype} "
            f"(shapes {sa} and {sb}); convert one, e.g. b.to({input.dtype})"
        )
    k_a = sa[-1]
    k_b = sb[0] if other.ndim == 1 else sb[-2]
    if k_a != k_b:
        rows = "x".join(map(str, sa))
        cols = "x".join(map(str, sb))
        hint = ""
        if input.ndim >= 2 and other.ndim >= 2:
            if sa[-1] == sb[-1]:
                hint = " Did you mean a @ b.T (or b.mT)? Transposing the second operand gives shape " + str(sb[:-2] + (sb[-1], sb[-2]))
            elif sa[-2] == sb[-2]:
                hint = " Did you mean a.T @ b (a.mT @ b)?"
        raise RuntimeError(
            f"matmul: shapes {sa} and {sb} cannot be multiplied ({rows} and {cols}): the last dimension of the "
            f"first ({k_a}) must equal the {'only' if other.ndim == 1 else 'second-to-last'} dimension of the second "
            f"({k_b}).{hint}"
        )
    if input.ndim > 2 or other.ndim > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise RuntimeError(
                f"matmul: the batch dimensions {sa[:-2]} and {sb[:-2]} of shapes {sa} and {sb} are not broadcastable"
            ) from None
    if input._data.dtype.kind == "b":
        raise RuntimeError("matmul: bool tensors are not supported")
    node = MatMul()
    out = node(input, other)
    if out.grad_fn is not None and (input.ndim != 2 or other.ndim != 2):
        node._grad_name = ("DotBackward0" if input.ndim == 1 and other.ndim == 1 else "MvBackward0" if other.ndim == 1 and input.ndim == 2
                           else "BmmBackward0" if input.ndim == 3 and other.ndim == 3 else "MatmulBackward0")
    return out


def ns_matmul(a, b):
    return MatMul()(a, b)


def _no_out_dtype(op):
    raise NotImplementedError(f"{op}(out_dtype=...): torch runs it only on CUDA for low-precision inputs; ember "
                              f"computes in the inputs' dtype: cast the result with .to(dtype)")


@tensor_method
def mm(input, mat2, out_dtype=None, *, out=None):
    """2-D matrix product (strict shapes)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list (out=: not cast)
        return _ac.run(_ac.LOWER if out is None else _ac.NONE, mm, input, mat2, out_dtype, out=out)
    if out_dtype is not None:
        _no_out_dtype("mm")
    if out is not None:
        return _out.into(out, "mm", mm, input, mat2, exact_dtype=True)
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {tuple(input.shape)} and {tuple(mat2.shape)}")
    return matmul(input, mat2)


@tensor_method
def bmm(input, mat2, out_dtype=None, *, out=None):
    """Batched 3-D matrix product (no broadcasting)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list (out=: not cast)
        return _ac.run(_ac.LOWER if out is None else _ac.NONE, bmm, input, mat2, out_dtype, out=out)
    if out_dtype is not None:
        _no_out_dtype("bmm")
    if out is not None:
        return _out.into(out, "bmm", bmm, input, mat2, exact_dtype=True)
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, got shapes {tuple(input.shape)} and {tuple(mat2.shape)}")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {tuple(input.shape)} and {tuple(mat2.shape)}")
    return matmul(input, mat2)


@tensor_method
def mv(input, vec, *, out=None):
    """Matrix-vector product."""
    if _ac.armed and _ac._state.on and out is None:  # autocast: torch's float32 list
        return _ac.run(_ac.NONE, mv, input, vec, out=out)
    if out is not None:
        return _out.into(out, "mv", mv, input, vec, exact_dtype=True)
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a 2-D matrix and a 1-D vector, got shapes {tuple(input.shape)} and {tuple(vec.shape)}")
    return matmul(input, vec)


@tensor_method
def dot(input, tensor, *, out=None):
    """Dot product of two 1-D tensors."""
    if _ac.armed and _ac._state.on and out is None:  # autocast: torch's float32 list
        return _ac.run(_ac.NONE, dot, input, tensor, out=out)
    if out is not None:
        return _out.into(out, "dot", dot, input, tensor, exact_dtype=True)
    if input.ndim != 1 or tensor.ndim != 1:
        raise RuntimeError(f"dot: 1D tensors expected, but got {input.ndim}D and {tensor.ndim}D tensors")
    if input.shape[0] != tensor.shape[0]:
        raise RuntimeError(
            f"dot: inconsistent tensor size, expected tensor [{input.shape[0]}] and src [{tensor.shape[0]}] to have the same number of elements"
        )
    return matmul(input, tensor)


def inner(input, other, *, out=None):
    """Inner product over the last dim (``dot`` for 1-D tensors; a product with a 0-d tensor), as torch's."""
    if out is not None:
        return _out.into(out, "inner", inner, input, other)
    if input.ndim == 1 and other.ndim == 1:
        return dot(input, other)
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner: the last dims must match, got shapes {tuple(input.shape)} and {tuple(other.shape)}")
    return tensordot(input, other, dims=([-1], [-1]))


tensor_method(inner, "inner")


@tensor_method
def outer(input, vec2, *, out=None):
    """Outer product of two 1-D tensors."""
    if out is not None:
        return _out.into(out, "outer", outer, input, vec2, exact_dtype=True)
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: 1D tensors expected, got shapes {tuple(input.shape)} and {tuple(vec2.shape)}")
    return unsqueeze(input, 1) * unsqueeze(vec2, 0)


ger = outer
tensor_method(ger, "ger")


@tensor_method(inplace=True)
def addmm(input, mat1, mat2, out_dtype=None, *, beta=1, alpha=1, out=None):
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list (out=: not cast)
        return _ac.run(_ac.LOWER if out is None else _ac.NONE, addmm, input, mat1, mat2, out_dtype, beta=beta, alpha=alpha, out=out)
    if out_dtype is not None:
        _no_out_dtype("addmm")
    if out is not None:
        return _out.into(out, "addmm", addmm, input, mat1, mat2, beta=beta, alpha=alpha, exact_dtype=True)
    return _scaled_sum(input, matmul(mat1, mat2), beta, alpha)  # beta=0 ignores input (nan, inf), as torch


def einsum(equation, *operands):
    """Einstein summation, composed from permute/reshape/mul/sum/matmul (so it is differentiable)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's einsum of 2+ operands runs through bmm (lower precision)
        ops = operands[0] if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else operands
        return _ac.run(_ac.LOWER if len(ops) >= 2 else _ac.NONE, einsum, equation, *operands)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:
        lhs, rhs = eq, None
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(f"einsum(): {len(terms)} operand subscripts given for {len(operands)} operands in '{equation}'")
    # expand ellipsis
    ell_letters = "".join(chr(0x3b1 + i) for i in range(10))
    new_terms = []
    for term, op in zip(terms, operands):
        if "..." in term:
            n_ell = op.ndim - (len(term) - 3)
            term = term.replace("...", ell_letters[:n_ell] if n_ell > 0 else "")
        if len(term) != op.ndim:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(term)}) does not match the number of "
                f"dimensions ({op.ndim}) for operand {len(new_terms)} (shape {tuple(op.shape)})"
            )
        new_terms.append(term)
    if rhs is None:
        counts = {}
        for term in new_terms:
            for c in term:
                counts[c] = counts.get(c, 0) + 1
        ells = "".join(c for c in ell_letters if c in counts)
        rhs = ells + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell_letters))
    elif "..." in rhs:
        n_ell = builtins.max(op.ndim - (len(t.replace("...", "")) ) for t, op in zip(terms, operands) if "..." in t)
        rhs = rhs.replace("...", ell_letters[:n_ell])
    sizes = {}
    for term, op in zip(new_terms, operands):
        for c, s in zip(term, op.shape):
            if c in sizes and sizes[c] != s and s != 1 and sizes[c] != 1:
                raise RuntimeError(f"einsum(): subscript {c} has size {s} for one operand which does not broadcast with previously seen size {sizes[c]}")
            sizes[c] = builtins.max(sizes.get(c, 1), s)
    # handle repeated letters within one operand (diagonal)
    ops = []
    for term, op in zip(new_terms, operands):
        while len(set(term)) != len(term):
            for c in term:
                if term.count(c) > 1:
                    i = term.index(c)
                    j = term.index(c, i + 1)
                    op = diagonal(op, 0, i, j)
                    term = term[:i] + term[i + 1:j] + term[j + 1:] + c
                    break
        ops.append((term, op))
    # contract pairwise, summing each letter out as soon as no later operand or the output needs it
    term, acc = ops[0]
    for k in range(1, len(ops)):
        t2, op2 = ops[k]
        letters = list(dict.fromkeys(term + t2))
        acc = _align(acc, term, letters) * _align(op2, t2, letters)
        term = "".join(letters)
        later = set(rhs).union(*(set(tt) for tt, _ in ops[k + 1:]))
        drop = [i for i, c in enumerate(term) if c not in later]
        if drop:
            acc = sum(acc, tuple(drop))
            term = "".join(c for i, c in enumerate(term) if i not in drop)
    drop = [i for i, c in enumerate(term) if c not in rhs]
    if drop:
        acc = sum(acc, tuple(drop))
        term = "".join(c for i, c in enumerate(term) if i not in drop)
    perm = [term.index(c) for c in rhs]
    if perm != list(range(len(perm))):
        acc = permute(acc, perm)
    return acc


def _align(x, term, letters):
    perm = [term.index(c) for c in letters if c in term]
    y = permute(x, perm) if perm != list(range(len(perm))) else x
    shape = []
    j = 0
    order = [c for c in letters if c in term]
    for c in letters:
        if c in term:
            shape.append(y.shape[order.index(c)])
            j += 1
        else:
            shape.append(1)
    return reshape(y, tuple(shape))


@tensor_method
def trace(input):
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, trace, input)
    return sum(diagonal(input))


@tensor_method
def diag(input, diagonal=0, *, out=None):
    if out is not None:
        return _out.into(out, "diag", diag, input, diagonal)
    if input.ndim == 1:
        n = input.shape[0] + _pyabs(diagonal)
        z = zeros(n, n, dtype=input.dtype)
        i = np.arange(input.shape[0])
        idx = (i, i + diagonal) if diagonal >= 0 else (i - diagonal, i)
        return IndexPut(idx)(z, input)
    return _diagonal(input, diagonal)


@tensor_method
def cross(input, other, dim=None, *, out=None):  # noqa: A002
    """Cross product of 3-vectors along ``dim`` (the first dim of size 3 when None)."""
    if out is not None:
        return _out.into(out, "cross", cross, input, other, dim, exact_dtype=True)
    a, b = broadcast_tensors(*_promote(input, other, "cross"))
    if dim is None:
        dim = next((i for i, s in enumerate(a.shape) if s == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dimension of size 3 in input of shape {tuple(a.shape)}")
    ax = _dim(dim, a.ndim, "cross")
    if a.shape[ax] != 3:
        raise RuntimeError(f"cross: inputs dimension {ax} must have length 3, got shape {tuple(a.shape)}")
    a0, a1, a2 = unbind(a, ax)
    b0, b1, b2 = unbind(b, ax)
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], ax)


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """Pairwise p-norm distances between the rows of ``x1`` (..., P, M) and ``x2`` (..., R, M)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, cdist, x1, x2, p, compute_mode)
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(
            f"cdist: expected x1 (..., P, M) and x2 (..., R, M) with the same M, got {tuple(x1.shape)} and "
            f"{tuple(x2.shape)}"
        )
    d = unsqueeze(x1, -2) - unsqueeze(x2, -3)
    return norm(d, p, dim=-1)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine of the angle between x1 and x2 along ``dim`` (each normalized by max(||x||, eps)).
    ``nn.functional.cosine_similarity`` is this function."""
    for x in (x1, x2):
        if not isinstance(x, Tensor):
            raise TypeError(f"cosine_similarity(): argument 'input' must be an ember Tensor, not {type(x).__name__}")
        if x._data.dtype.kind != "f":
            raise RuntimeError(
                f"cosine_similarity(): expected a floating-point input, got {x.dtype}; convert it with .float()"
            )
    try:
        shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise RuntimeError(
            f"cosine_similarity: the shapes {tuple(x1.shape)} and {tuple(x2.shape)} are not broadcastable"
        ) from None
    # the norms are taken along ``dim`` of the broadcast shape (a size-1 dim there is repeated first)
    x1 = x1 if tuple(x1.shape) == shape else x1.expand(shape)
    x2 = x2 if tuple(x2.shape) == shape else x2.expand(shape)
    n1 = clamp(norm(x1, 2, dim, keepdim=True), min=eps)
    n2 = clamp(norm(x2, 2, dim, keepdim=True), min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def tensordot(a, b, dims=2, *, out=None):
    """Contract the last ``dims`` dims of ``a`` with the first of ``b`` (or explicit dim lists)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list (out=: not cast)
        return _ac.run(_ac.LOWER if out is None else _ac.NONE, tensordot, a, b, dims, out=out)
    if out is not None:
        return _out.into(out, "tensordot", tensordot, a, b, dims, exact_dtype=True)
    if isinstance(dims, builtins.int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, builtins.int) else list(d) for d in dims)
    da = [_dim(d, a.ndim, "tensordot") for d in da]
    db = [_dim(d, b.ndim, "tensordot") for d in db]
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    sa = list(letters[: a.ndim])
    sb = list(letters[a.ndim: a.ndim + b.ndim])
    for i, j in zip(da, db):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in da] + [c for j, c in enumerate(sb) if j not in db]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


@tensor_method(inplace=True)
def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):  # noqa: A002
    """beta * input + alpha * (mat @ vec)."""
    if out is not None:
        return _out.into(out, "addmv", addmv, input, mat, vec, beta=beta, alpha=alpha, exact_dtype=True)
    return _scaled_sum(input, mv(mat, vec), beta, alpha)


@tensor_method(inplace=True)
def addr(input, vec1, vec2, *, beta=1, alpha=1, out=None):  # noqa: A002
    """beta * input + alpha * outer(vec1, vec2)."""
    if out is not None:
        return _out.into(out, "addr", addr, input, vec1, vec2, beta=beta, alpha=alpha, exact_dtype=True)
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha)


@tensor_method(inplace=True)
def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):  # noqa: A002
    """beta * input + alpha * sum_i batch1[i] @ batch2[i]."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list (out=: not cast)
        return _ac.run(_ac.LOWER if out is None else _ac.NONE, addbmm, input, batch1, batch2, beta=beta, alpha=alpha, out=out)
    if out is not None:
        return _out.into(out, "addbmm", addbmm, input, batch1, batch2, beta=beta, alpha=alpha, exact_dtype=True)
    return _scaled_sum(input, sum(bmm(batch1, batch2), 0), beta, alpha)


@tensor_method(inplace=True)
def baddbmm(input, batch1, batch2, out_dtype=None, *, beta=1, alpha=1, out=None):  # noqa: A002
    """beta * input + alpha * (batch1 @ batch2), per batch."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list (out=: not cast)
        return _ac.run(_ac.LOWER if out is None else _ac.NONE, baddbmm, input, batch1, batch2, out_dtype, beta=beta, alpha=alpha, out=out)
    if out_dtype is not None:
        _no_out_dtype("baddbmm")
    if out is not None:
        return _out.into(out, "baddbmm", baddbmm, input, batch1, batch2, beta=beta, alpha=alpha, exact_dtype=True)
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


def _scaled_sum(inp, prod, beta, alpha):
    p = prod if alpha == 1 else prod * alpha
    if beta == 0:  # torch ignores input then (nan/inf in it do not propagate)
        return p
    return (inp if beta == 1 else inp * beta) + p


def chain_matmul(*matrices, out=None):
    if out is not None:
        return _out.into(out, "chain_matmul", chain_matmul, *matrices)
    from ..linalg import multi_dot

    return multi_dot(list(matrices))


@tensor_method
def adjoint(input):  # noqa: A002
    """The conjugate transpose of the last two dims (the transpose for real dtypes; for complex ones a conjugate
    view, as torch's)."""
    t = transpose(input, -2, -1)
    if t._data.dtype.kind == "c":
        from .complex_ops import conj

        return conj(t)
    return t


@tensor_method
def kron(input, other, *, out=None):  # noqa: A002
    """Kronecker product (differentiable)."""
    if out is not None:
        return _out.into(out, "kron", kron, input, other, exact_dtype=True)
    a, b = _promote(input, other, "kron")
    nd = builtins.max(a.ndim, b.ndim)
    a = a.reshape((1,) * (nd - a.ndim) + tuple(a.shape))
    b = b.reshape((1,) * (nd - b.ndim) + tuple(b.shape))
    ia, ib = [], []
    for i in range(nd):
        ia.extend([a.shape[i], 1])
        ib.extend([1, b.shape[i]])
    prod = a.reshape(ia) * b.reshape(ib)
    return prod.reshape([a.shape[i] * b.shape[i] for i in range(nd)])


def block_diag(*tensors):
    """A block-diagonal matrix from 0-, 1- or 2-d tensors (differentiable)."""
    mats = []
    for t in tensors:
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input has {t.ndim}")
        mats.append(t.reshape(1, -1) if t.ndim < 2 else t)
    if not mats:
        return zeros(1, 0)
    dt = mats[0].dtype
    for m in mats[1:]:
        dt = D.promote_types(dt, m.dtype)
    rows = builtins.sum(m.shape[0] for m in mats)
    cols = builtins.sum(m.shape[1] for m in mats)
    out = []
    c0 = 0
    for m in mats:
        m = m.to(dt)
        r, c = m.shape
        left = zeros(r, c0, dtype=dt)
        right = zeros(r, cols - c0 - c, dtype=dt)
        out.append(cat([left, m, right], 1))
        c0 += c
    res = cat(out, 0)
    assert tuple(res.shape) == (rows, cols)
    return res


def vander(x, N=None, increasing=False):  # noqa: N803  (torch's name)
    """The Vandermonde matrix of a 1-d ``x`` (columns x**(N-1) ... x**0, or increasing), differentiable."""
    if x.ndim != 1:
        raise RuntimeError(f"x must be a one-dimensional tensor, got {x.ndim} dims")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if n == 0:
        return zeros(x.shape[0], 0, dtype=x.dtype if x.is_floating_point() else D.int64)
    cols = [ones_like(x)]
    for _ in range(1, n):
        cols.append(cols[-1] * x)
    if not increasing:
        cols = cols[::-1]
    return stack(cols, 1)


@tensor_method
def diag_embed(input, offset=0, dim1=-2, dim2=-1):  # noqa: A002
    """Tensors whose diagonals (over dim1, dim2 of the result) are the last dim of ``input`` (differentiable)."""
    m = input.shape[-1]
    k = offset
    n = m + builtins.abs(k)
    if k:
        z = zeros(*input.shape[:-1], builtins.abs(k), dtype=input.dtype)
        w = cat([z, input], -1) if k > 0 else cat([input, z], -1)
    else:
        w = input
    zero = Tensor._wrap(np.zeros((), dtype=input._data.dtype))
    res = where(Tensor._wrap(np.eye(n, k=k, dtype=bool)), w.unsqueeze(-2), zero)  # not a product: nan * 0 is nan
    nd = res.ndim
    d1, d2 = dim1 % nd, dim2 % nd
    if d1 == d2:
        raise RuntimeError(f"diag_embed(): diagonal dimensions cannot be identical {dim1}, {dim2}")
    rest = iter(builtins.range(nd - 2))
    axes = [nd - 2 if i == d1 else nd - 1 if i == d2 else next(rest) for i in builtins.range(nd)]
    return permute(res, axes)


@tensor_method
def diagflat(input, offset=0):  # noqa: A002
    return diag(input.reshape(-1), offset)


@tensor_method
def vdot(input, other, *, out=None):  # noqa: A002
    """Dot product of two 1-d tensors (no conjugation: ember is real-only)."""
    if out is not None:
        return _out.into(out, "vdot", vdot, input, other, exact_dtype=True)
    return dot(input, other)


def _la():
    from .. import linalg

    return linalg


@tensor_method
def det(input):  # noqa: A002
    return _la().det(input)


@tensor_method
def inverse(input, *, out=None):  # noqa: A002
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, inverse, input, out=out)
    if out is not None:
        return _out.into(out, "inverse", inverse, input)
    return _la().inv(input)


@tensor_method
def logdet(input):  # noqa: A002
    """log(det(A)): nan for a negative determinant, -inf for zero (differentiable)."""
    s, l = _la().slogdet(input)
    return l + Tensor._wrap(np.where(s._data < 0, np.nan, np.where(s._data == 0, -np.inf, 0.0)).astype(l._data.dtype))


@tensor_method
def slogdet(input, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "slogdet", slogdet, input)
    return _la().slogdet(input)


@tensor_method
def pinverse(input, rcond=1e-15):  # noqa: A002
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, pinverse, input, rcond)
    return _la().pinv(input, rtol=rcond)


@tensor_method
def matrix_power(input, n, *, out=None):  # noqa: A002
    if out is not None:
        return _out.into(out, "matrix_power", matrix_power, input, n)
    return _la().matrix_power(input, n)


@tensor_method
def matrix_exp(input):  # noqa: A002
    return _la().matrix_exp(input)


@tensor_method
def svd(input, some=True, compute_uv=True, *, out=None):  # noqa: A002
    """torch.svd: (U, S, V) with V not transposed (``some=False`` gives full U and V)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, svd, input, some, compute_uv, out=out)
    if out is not None:
        return _out.into(out, "svd", svd, input, some, compute_uv)
    from collections import namedtuple

    rt = namedtuple("torch_return_types_svd", ["U", "S", "V"])
    if not compute_uv:
        S = _la().svdvals(input)
        return rt(zeros(0, dtype=input.dtype), S, zeros(0, dtype=input.dtype))
    U, S, Vh = _la().svd(input, full_matrices=not some)
    return rt(U, S, Vh.transpose(-2, -1))


@tensor_method
def qr(input, some=True, *, out=None):  # noqa: A002
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, qr, input, some, out=out)
    if out is not None:
        return _out.into(out, "qr", qr, input, some)
    return _la().qr(input, "reduced" if some else "complete")


@tensor_method
def cholesky(input, upper=False, *, out=None):  # noqa: A002
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, cholesky, input, upper, out=out)
    if out is not None:
        return _out.into(out, "cholesky", cholesky, input, upper)
    return _la().cholesky(input, upper=upper)


@tensor_method
def cholesky_solve(input, input2, upper=False, *, out=None):  # noqa: A002
    """Solve A X = B given A's Cholesky factor ``input2`` (differentiable)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list (out=: not cast)
        return _ac.run(_ac.FP32 if out is None else _ac.NONE, cholesky_solve, input, input2, upper, out=out)
    if out is not None:
        return _out.into(out, "cholesky_solve", cholesky_solve, input, input2, upper)
    L = input2.transpose(-2, -1) if upper else input2
    y = _la().solve_triangular(L, input, upper=False)
    return _la().solve_triangular(L.transpose(-2, -1), y, upper=True)


@tensor_method
def cholesky_inverse(input, upper=False, *, out=None):  # noqa: A002
    """The inverse of A from its Cholesky factor (differentiable)."""
    if out is not None:
        return _out.into(out, "cholesky_inverse", cholesky_inverse, input, upper)
    L = input.transpose(-2, -1) if upper else input
    Li = _la().inv(L)
    return matmul(Li.transpose(-2, -1), Li)


@tensor_method
def triangular_solve(input, A, upper=True, transpose=False, unitriangular=False, *, out=None):  # noqa: N803
    """Deprecated torch.triangular_solve: (solution, A clone)."""
    if out is not None:
        return _out.into(out, "triangular_solve", triangular_solve, input, A, upper, transpose, unitriangular)
    from collections import namedtuple

    M = A.transpose(-2, -1) if transpose else A
    X = _la().solve_triangular(M, input, upper=upper != transpose, unitriangular=unitriangular)
    return namedtuple("torch_return_types_triangular_solve", ["solution", "cloned_coefficient"])(X, A.clone())


def _lu():
    from .. import _linalg_lu

    return _linalg_lu


@tensor_method
def lu(A, pivot=True, get_infos=False, out=None):  # noqa: N803  (torch's names)
    """Deprecated torch.lu: (LU, pivots), or (LU, pivots, infos) with ``get_infos`` (see linalg.lu_factor_ex)."""
    return _lu().lu_deprecated(A, pivot, get_infos, out)


@tensor_method
def lu_solve(input, LU_data, LU_pivots, *, out=None):  # noqa: A002,N803  (torch's names)
    """Deprecated torch.lu_solve(b, LU_data, LU_pivots): X with A X = b (see linalg.lu_solve)."""
    return _lu().lu_solve_deprecated(input, LU_data, LU_pivots, out=out)


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True, *, out=None):  # noqa: N803
    """P, L, U from linalg.lu_factor's (LU, pivots), differentiable in LU_data."""
    return _lu().lu_unpack(LU_data, LU_pivots, unpack_data, unpack_pivots, out=out)


def _hh():
    from .. import _linalg_householder

    return _linalg_householder


@tensor_method
def geqrf(input, *, out=None):  # noqa: A002  (torch's name)
    """LAPACK's geqrf: (a, tau), R above the diagonal and the Householder vectors below (not differentiable)."""
    return _hh().geqrf(input, out=out)


@tensor_method
def orgqr(input, input2):  # noqa: A002  (torch's names: input2 is tau)
    """Alias of linalg.householder_product(input, tau=input2) (differentiable)."""
    return _hh().householder_product(input, input2)


@tensor_method
def ormqr(input, input2, input3, left=True, transpose=False, *, out=None):  # noqa: A002  (torch's names)
    """op(Q) @ input3 (``left``) or input3 @ op(Q) for Q from geqrf's (input, tau=input2) (differentiable)."""
    return _hh().ormqr(input, input2, input3, left, transpose, out=out)


def svd_lowrank(A, q=6, niter=2, M=None):  # noqa: N803  (torch's names)
    """A randomised rank-q SVD (U, S, V) of A - M (differentiable through matmul / qr / svd)."""
    from .._linalg_lowrank import svd_lowrank as f

    return f(A, q, niter, M)


def pca_lowrank(A, q=None, center=True, niter=2):  # noqa: N803  (torch's names)
    """A randomised rank-q PCA: U, S, V of the row-centred A (differentiable through matmul / qr / svd)."""
    from .._linalg_lowrank import pca_lowrank as f

    return f(A, q, center, niter)


def lobpcg(A, k=None, B=None, X=None, n=None, iK=None, niter=None, tol=None, largest=None, method=None,  # noqa: N803
           tracker=None, ortho_iparams=None, ortho_fparams=None, ortho_bparams=None):
    """k extreme eigenpairs of A X = B X E by LOBPCG (torch's algorithm; differentiable in A when B is None)."""
    from .._lobpcg import lobpcg as f

    return f(A, k, B, X, n, iK, niter, tol, largest, method, tracker, ortho_iparams, ortho_fparams, ortho_bparams)


__all__ = _public(globals())
_diagonal = diagonal  # diag's parameter is named diagonal, as torch's
