"""Transformer layers (torch's structure and parameter names): ``TransformerEncoderLayer``,
``TransformerEncoder``, ``TransformerDecoderLayer``, ``TransformerDecoder`` and ``Transformer``."""
from __future__ import annotations

import copy

import numpy as np

from ... import _dtype as D
from ..._tensor import Tensor
from .. import _fused
from .. import functional as F
from .. import init
from .activation_attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = [
    "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder", "Transformer",
    "generate_square_subsequent_mask",
]


def generate_square_subsequent_mask(sz, device=None, dtype=None):
    """A float (sz, sz) causal mask: 0 on and below the diagonal, -inf above (torch's helper)."""
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    return Tensor._wrap(np.triu(np.full((sz, sz), -np.inf, dtype=dt.np), 1))


def _activation(act, who):
    if callable(act):
        return act
    if act == "relu":
        return F.relu
    if act == "gelu":
        return F.gelu
    raise RuntimeError(f"{who}: activation should be relu/gelu or a callable, not {act!r}")


def _check_model_input(who, x, d_model, batch_first, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: {name} must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        order = "(N, S, E)" if batch_first else "(S, N, E)"
        raise RuntimeError(
            f"{who}(d_model={d_model}): expected {name} of shape {order} or (S, E) with E={d_model}, got shape "
            f"{tuple(x.shape)}"
        )


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual and LayerNorm (post-norm unless norm_first).

    >>> layer = ember.nn.TransformerEncoderLayer(d_model=16, nhead=4, batch_first=True)
    >>> layer(ember.randn(2, 5, 16)).shape
    ember.Size([2, 5, 16])
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation, "TransformerEncoderLayer")
        self.batch_first = batch_first
        self.d_model = d_model

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        _check_model_input("TransformerEncoderLayer", src, self.d_model, self.batch_first, "src")
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(_ff(self, x))


_GELU = F.gelu  # the function itself (the ONNX tracer swaps in wrappers, which must take the plain path)


def _ff(layer, x):
    """linear2(dropout(activation(linear1(x)))) of a transformer layer. With torch's exact GELU and no active
    dropout in between, ``linear2`` keeps the GELU output for its weight gradient anyway, so the GELU node keeps
    it too and its backward reads Phi(x) from it instead of recomputing erf (no extra memory)."""
    h = layer.linear1(x)
    drop = layer.dropout
    if (layer.activation is _GELU and (not layer.training or (isinstance(drop, Dropout) and drop.p == 0))
            and isinstance(layer.linear2, Linear) and layer.linear2.weight.requires_grad and h.requires_grad):
        a = _fused.gelu(h, "none", keep_out=True)
    else:
        a = layer.activation(h)
    return layer.linear2(layer.dropout(a))


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention over ``memory`` and a feed-forward block, each with residual and LayerNorm."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation, "TransformerDecoderLayer")
        self.batch_first = batch_first
        self.d_model = d_model

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        _check_model_input("TransformerDecoderLayer", tgt, self.d_model, self.batch_first, "tgt")
        _check_model_input("TransformerDecoderLayer", memory, self.d_model, self.batch_first, "memory")
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal,
                           need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(_ff(self, x))


def _clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _causal_mask_for(mask, size):
    """torch's is_causal=None detection: True when ``mask`` equals the square subsequent mask."""
    if mask is None:
        return False
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.shape != (size, size):
        return False
    if m.dtype == np.bool_:
        return bool(np.array_equal(m, np.triu(np.ones((size, size), dtype=bool), 1)))
    return bool(np.array_equal(m, np.triu(np.full((size, size), -np.inf, dtype=m.dtype), 1)))


class TransformerEncoder(Module):
    """A stack of ``num_layers`` deep copies of ``encoder_layer``, then an optional ``norm``."""

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: encoder_layer must be a Module, got {type(encoder_layer).__name__}")
        if not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"TransformerEncoder: num_layers must be a non-negative int, got {num_layers!r}")
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check
        # torch's "sparsity fast path" (nested tensors) applies to these layers only
        el = encoder_layer
        sa = getattr(el, "self_attn", None)
        self.use_nested_tensor = bool(
            enable_nested_tensor and isinstance(el, TransformerEncoderLayer) and not el.norm_first
            and sa.batch_first and sa._qkv_same_embed_dim and sa.in_proj_bias is not None
            and (el.activation in (F.relu, F.gelu) or type(el.activation).__name__ in ("ReLU", "GELU"))
            and el.norm1.eps == el.norm2.eps and sa.num_heads % 2 == 0)

    def _padded_positions(self, src, mask, src_key_padding_mask):
        """Where torch's inference fast path would run the stack on nested tensors (eval mode, no autograd,
        batched input, a left-aligned key padding mask and no attention mask), the (N, S) positions it leaves
        as zeros before the final norm; otherwise None."""
        from ...autograd.grad_mode import is_grad_enabled
        from ..._autocast import is_autocast_enabled

        if not (getattr(self, "use_nested_tensor", False) and self.layers and src_key_padding_mask is not None
                and mask is None and src.ndim == 3 and not self.layers[0].training and not is_autocast_enabled()):
            return None
        first = self.layers[0]
        if is_grad_enabled() and (src.requires_grad or any(p.requires_grad for p in first.parameters())):
            return None
        kpm = src_key_padding_mask
        kpm = kpm._data if isinstance(kpm, Tensor) else np.asarray(kpm)
        pad = kpm if kpm.dtype == np.bool_ else kpm != 0
        if pad.shape != tuple(src.shape[:2]):
            return None
        valid = ~pad
        if getattr(self, "mask_check", True) and not (valid[:, 1:] <= valid[:, :-1]).all():
            return None  # torch's check: the padding must all be at the end of each sequence
        return pad if pad.any() else None

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        seq_dim = 1 if getattr(self.layers[0], "batch_first", False) and src.ndim == 3 else 0 if self.layers else 0
        if is_causal is None:
            is_causal = _causal_mask_for(mask, src.shape[seq_dim])
        padded = self._padded_positions(src, mask, src_key_padding_mask)
        out = src
        for mod in self.layers:
            out = mod(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        if padded is not None:  # as torch's nested-tensor path: padded positions come out as zeros
            out = out.masked_fill(Tensor._wrap(padded[:, :, None]), 0.0)
        if self.norm is not None:
            out = self.norm(out)
        return out


class TransformerDecoder(Module):
    """A stack of ``num_layers`` deep copies of ``decoder_layer``, then an optional ``norm``."""

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"TransformerDecoder: decoder_layer must be a Module, got {type(decoder_layer).__name__}")
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        seq_dim = 1 if self.layers and getattr(self.layers[0], "batch_first", False) and tgt.ndim == 3 else 0
        if tgt_is_causal is None:
            tgt_is_causal = _causal_mask_for(tgt_mask, tgt.shape[seq_dim])
        out = tgt
        for mod in self.layers:
            out = mod(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        if self.norm is not None:
            out = self.norm(out)
        return out


class Transformer(Module):
    """Encoder-decoder transformer (torch's ``nn.Transformer``): encoder + decoder stacks with final norms."""

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        b_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[b_dim] != tgt.shape[b_dim]:
            raise RuntimeError(f"Transformer: the batch number of src {tuple(src.shape)} and tgt {tuple(tgt.shape)} "
                               "must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to d_model={self.d_model}, "
                               f"got {tuple(src.shape)} and {tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
