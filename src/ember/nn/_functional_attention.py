"""Attention for ``ember.nn.functional``: ``scaled_dot_product_attention`` and
``multi_head_attention_forward`` (torch's semantics), composed from ember ops (no derivative code)."""
from __future__ import annotations

import math

import numpy as np

from .. import _ops as E
from .._dtype import from_numpy
from .._tensor import Tensor
from . import _fused
from . import attention as _attention
from .. import _autocast as _ac

_sdpa_enabled = _attention._enabled  # sdpa_kernel's current set of backends
_SDPA_ALL = _sdpa_enabled[0]

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _shape(t):
    return tuple(int(s) for s in t.shape)


def _dropout(x, p):
    from .functional import dropout

    return dropout(x, p, True)


def _additive(mask, dtype, what, op):
    """A float mask to add to the scores; bool masks mean ``True = may attend`` (sdpa's convention)."""
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype == np.bool_:
        return Tensor._wrap(np.where(m, 0.0, -np.inf).astype(dtype))
    if m.dtype.kind != "f":
        raise TypeError(f"{op}: {what} must be a bool or floating-point tensor, got dtype {m.dtype}")
    if isinstance(mask, Tensor):
        return mask if m.dtype == dtype else E.cast(mask, from_numpy(dtype))
    return Tensor._wrap(m.astype(dtype))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(q k^T * scale + mask) v over the last two dims of (..., L, E) / (..., S, E) / (..., S, Ev).

    ``attn_mask``: bool (True = may attend) or float (added to the scores), broadcastable to (..., L, S).
    ``is_causal``: query i attends keys j <= i. ``dropout_p`` is always applied (as torch's).

    >>> q = k = v = ember.randn(2, 4, 8, 16)
    >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
    ember.Size([2, 4, 8, 16])
    """
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list
        return _ac.run(_ac.LOWER, scaled_dot_product_attention, query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    op = "scaled_dot_product_attention"
    if _sdpa_enabled[0] is not _SDPA_ALL:
        _attention._check_enabled()
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise RuntimeError(f"{op}: {name} must be at least 2-D (..., seq, features), got shape {_shape(t)}")
    q, k, v = query, key, value
    if q.shape[-1] != k.shape[-1]:
        raise RuntimeError(
            f"{op}: query and key must have the same feature size, got query {_shape(q)} and key {_shape(k)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise RuntimeError(
            f"{op}: key and value must have the same sequence length, got key {_shape(k)} and value {_shape(v)}"
        )
    if enable_gqa and q.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        hq, hk = q.shape[-3], k.shape[-3]
        if hq % hk:
            raise RuntimeError(f"{op}: with enable_gqa, query heads ({hq}) must be a multiple of key heads ({hk})")
        k = E.repeat_interleave(k, hq // hk, dim=-3)
        v = E.repeat_interleave(v, hq // hk, dim=-3)
    if is_causal and attn_mask is not None:
        raise RuntimeError(f"{op}: explicit attn_mask should not be set when is_causal=True")
    if not (0.0 <= dropout_p <= 1.0):
        raise ValueError(f"{op}: dropout_p must be in [0, 1], got {dropout_p}")
    L, S = q.shape[-2], k.shape[-2]
    dt = q._data.dtype
    sc = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    fusable = (dropout_p == 0 and dt.kind == "f" and k._data.dtype == dt and v._data.dtype == dt
               and not (isinstance(attn_mask, Tensor) and attn_mask.requires_grad))
    if fusable and not is_causal and attn_mask is not None:
        m = _additive(attn_mask, dt, "attn_mask", op)._data
        try:
            fusable = np.broadcast_shapes(m.shape, _shape(q)[:-2] + (L, S)) == np.broadcast_shapes(
                _shape(q)[:-2], _shape(k)[:-2], _shape(v)[:-2]) + (L, S)
        except ValueError:
            fusable = False
    if fusable:  # one node with a hand-written backward
        return _fused.sdpa(q, k, v, sc, None if (is_causal or attn_mask is None) else m, is_causal)
    scores = E.matmul(q * sc, E.transpose(k, -2, -1))
    if is_causal:
        causal = np.triu(np.full((L, S), -np.inf, dtype=dt), 1)
        scores = scores + Tensor._wrap(causal)
    elif attn_mask is not None:
        m = _additive(attn_mask, dt, "attn_mask", op)
        try:
            np.broadcast_shapes(_shape(m), _shape(scores))
        except ValueError:
            raise RuntimeError(
                f"{op}: attn_mask of shape {_shape(m)} is not broadcastable to the attention scores of shape "
                f"{_shape(scores)} (..., L={L}, S={S})"
            ) from None
        scores = scores + m
    attn = _fused.safe_softmax(scores)  # rows with every key masked give zeros, as torch's
    if dropout_p > 0:
        attn = _dropout(attn, dropout_p)
    return E.matmul(attn, v)


# ============================================================================ multi-head attention


def _linear(x, w, b):
    from .functional import linear

    return linear(x, w, b)


def _mha_mask(mask, dtype, what):
    """MHA masks: bool ``True`` = NOT allowed to attend (torch's MHA convention) -> additive float mask."""
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype == np.bool_:
        return Tensor._wrap(np.where(m, -np.inf, 0.0).astype(dtype))
    if m.dtype.kind != "f":
        raise AssertionError(f"multi_head_attention_forward: only bool and floating types of {what} are supported")
    return mask if isinstance(mask, Tensor) and m.dtype == dtype else Tensor._wrap(m.astype(dtype))


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention on sequence-first input: query (L, N, E), key (S, N, Ek), value (S, N, Ev),
    or unbatched (L, E) / (S, Ek) / (S, Ev). Returns (output (L, N, E), weights (N, L, S) or None)."""
    op = "multi_head_attention_forward"
    unbatched = query.ndim == 2
    if query.ndim not in (2, 3):
        raise RuntimeError(f"{op}: query should be 2-D (L, E) or 3-D (L, N, E), got shape {_shape(query)}")
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise RuntimeError(
            f"{op}: query, key and value must all be {'unbatched 2-D' if unbatched else 'batched 3-D'}; got shapes "
            f"{_shape(query)}, {_shape(key)}, {_shape(value)}"
        )
    if unbatched:
        query, key, value = E.unsqueeze(query, 1), E.unsqueeze(key, 1), E.unsqueeze(value, 1)
        if key_padding_mask is not None:
            key_padding_mask = E.unsqueeze(key_padding_mask, 0) if isinstance(key_padding_mask, Tensor) else \
                np.asarray(key_padding_mask)[None]
    tgt_len, bsz, embed_dim = _shape(query)
    src_len = key.shape[0]
    if embed_dim != embed_dim_to_check:
        raise RuntimeError(f"{op}: was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim} "
                           f"(query shape {_shape(query)})")
    if embed_dim % num_heads:
        raise RuntimeError(f"{op}: embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    head_dim = embed_dim // num_heads
    if key.shape[:2] != value.shape[:2]:
        raise RuntimeError(f"{op}: key shape {_shape(key)} does not match value shape {_shape(value)}")
    if key.shape[1] != bsz:
        raise RuntimeError(f"{op}: key batch size {key.shape[1]} does not match query batch size {bsz}")
    if is_causal and attn_mask is None:
        raise RuntimeError(
            f"{op}: need attn_mask if specifying the is_causal hint (pass e.g. "
            "Transformer.generate_square_subsequent_mask(L) as attn_mask)"
        )
    dt = query._data.dtype

    # input projections
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise RuntimeError(f"{op}: use_separate_proj_weight is False but in_proj_weight is None")
        if query is key and key is value:
            proj = _linear(query, in_proj_weight, in_proj_bias)
            q, k, v = E.split(proj, embed_dim, -1)
        else:
            wq, wk, wv = E.split(in_proj_weight, embed_dim, 0)
            bq = bk = bv = None
            if in_proj_bias is not None:
                bq, bk, bv = E.split(in_proj_bias, embed_dim, 0)
            q = _linear(query, wq, bq)
            if key is value:
                kv = _linear(key, E.cat([wk, wv], 0), None if bk is None else E.cat([bk, bv], 0))
                k, v = E.split(kv, embed_dim, -1)
            else:
                k = _linear(key, wk, bk)
                v = _linear(value, wv, bv)
    else:
        bq = bk = bv = None
        if in_proj_bias is not None:
            bq, bk, bv = E.split(in_proj_bias, embed_dim, 0)
        q = _linear(query, q_proj_weight, bq)
        k = _linear(key, k_proj_weight, bk)
        v = _linear(value, v_proj_weight, bv)

    # masks -> one additive float mask of shape broadcastable to (N*H, L, S)
    if attn_mask is not None:
        attn_mask = _mha_mask(attn_mask, dt, "attn_mask")
        if attn_mask.ndim == 2:
            if _shape(attn_mask) != (tgt_len, src_len):
                raise RuntimeError(f"{op}: the shape of the 2D attn_mask is {_shape(attn_mask)}, but should be "
                                   f"{(tgt_len, src_len)}")
            attn_mask = E.unsqueeze(attn_mask, 0)
        elif attn_mask.ndim == 3:
            if _shape(attn_mask) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"{op}: the shape of the 3D attn_mask is {_shape(attn_mask)}, but should be "
                                   f"{(bsz * num_heads, tgt_len, src_len)}")
        else:
            raise RuntimeError(f"{op}: attn_mask's dimension {attn_mask.ndim} is not supported (2-D or 3-D)")
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise RuntimeError(f"{op}: bias cannot be added to static key/value")
        k = E.cat([k, E.expand(bias_k, 1, bsz, embed_dim)], 0)
        v = E.cat([v, E.expand(bias_v, 1, bsz, embed_dim)], 0)
        if attn_mask is not None:
            attn_mask = E.cat([attn_mask, Tensor._wrap(np.zeros(_shape(attn_mask)[:-1] + (1,), dtype=dt))], -1)
        if key_padding_mask is not None:
            kp = key_padding_mask._data if isinstance(key_padding_mask, Tensor) else np.asarray(key_padding_mask)
            key_padding_mask = np.concatenate([kp, np.zeros((kp.shape[0], 1), dtype=kp.dtype)], 1)

    q = E.transpose(E.reshape(q, (tgt_len, bsz * num_heads, head_dim)), 0, 1)
    if static_k is None:
        k = E.transpose(E.reshape(k, (k.shape[0], bsz * num_heads, head_dim)), 0, 1)
    else:
        k = static_k
    if static_v is None:
        v = E.transpose(E.reshape(v, (v.shape[0], bsz * num_heads, head_dim)), 0, 1)
    else:
        v = static_v
    if add_zero_attn:
        zeros = Tensor._wrap(np.zeros((bsz * num_heads, 1, head_dim), dtype=dt))
        k = E.cat([k, zeros], 1)
        v = E.cat([v, zeros], 1)
        if attn_mask is not None:
            attn_mask = E.cat([attn_mask, Tensor._wrap(np.zeros(_shape(attn_mask)[:-1] + (1,), dtype=dt))], -1)
        if key_padding_mask is not None:
            kp = key_padding_mask._data if isinstance(key_padding_mask, Tensor) else np.asarray(key_padding_mask)
            key_padding_mask = np.concatenate([kp, np.zeros((kp.shape[0], 1), dtype=kp.dtype)], 1)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        kpm = _mha_mask(key_padding_mask if isinstance(key_padding_mask, Tensor) else Tensor._wrap(key_padding_mask),
                        dt, "key_padding_mask")
        if _shape(kpm) != (bsz, src_len):
            raise RuntimeError(f"{op}: expected key_padding_mask of shape {(bsz, src_len)} (N, S), got {_shape(kpm)}")
        kpm = E.reshape(E.expand(E.reshape(kpm, (bsz, 1, 1, src_len)), bsz, num_heads, 1, src_len),
                        (bsz * num_heads, 1, src_len))
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if not need_weights and dropout_p == 0.0 and not (isinstance(attn_mask, Tensor) and attn_mask.requires_grad):
        out = _fused.sdpa(q, k, v, 1.0 / math.sqrt(head_dim), None if attn_mask is None else attn_mask._data, False)
        out = E.reshape(E.transpose(out, 0, 1), (tgt_len * bsz, embed_dim))
        out = E.reshape(_linear(out, out_proj_weight, out_proj_bias), (tgt_len, bsz, embed_dim))
        return (E.squeeze(out, 1) if unbatched else out), None
    scores = E.matmul(q * (1.0 / math.sqrt(head_dim)), E.transpose(k, 1, 2))
    if attn_mask is not None:
        scores = scores + attn_mask
    # need_weights=False runs torch's sdpa, whose softmax gives zeros for rows with every key masked
    weights = E.softmax(scores, -1) if need_weights else _fused.safe_softmax(scores)
    if dropout_p > 0.0:
        weights_d = _dropout(weights, dropout_p)
    else:
        weights_d = weights
    out = E.matmul(weights_d, v)  # (N*H, L, hd)
    out = E.reshape(E.transpose(out, 0, 1), (tgt_len * bsz, embed_dim))
    out = E.reshape(_linear(out, out_proj_weight, out_proj_bias), (tgt_len, bsz, embed_dim))
    if unbatched:
        out = E.squeeze(out, 1)
    if not need_weights:
        return out, None
    w = E.reshape(weights_d, (bsz, num_heads, tgt_len, src_len))
    if average_attn_weights:
        w = E.mean(w, 1)
    if unbatched:
        w = E.squeeze(w, 0)
    return out, w
