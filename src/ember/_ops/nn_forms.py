"""``torch.conv2d``, ``torch.dropout``...: the ``torch.*`` forms of ``nn.functional`` ops (nn is imported
when one is called, never by ``import ember``)."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from ._registry import tensor_method
from ._helpers import _public
from .. import _autocast as _ac


def _functional(name):
    def f(*args, out=None, **kwargs):
        from ..nn import functional as F

        if out is not None:  # torch.hardshrink(..., out=), torch.threshold(..., out=)
            from .. import _out

            return _out.into(out, name, getattr(F, name), *args, **kwargs)
        return getattr(F, name)(*args, **kwargs)

    f.__name__ = name
    f.__doc__ = f"``torch.{name}``: the same as ``torch.nn.functional.{name}``."
    return f


for _n in ("adaptive_avg_pool1d avg_pool1d max_pool1d max_pool2d max_pool3d conv1d conv2d conv3d conv_transpose1d "
           "conv_transpose2d conv_transpose3d bilinear celu selu hardshrink threshold pixel_shuffle pixel_unshuffle "
           "pairwise_distance").split():
    globals()[_n] = _functional(_n)


def _dropout_form(name, fname):
    def f(input, p, train):  # noqa: A002
        from ..nn import functional as F

        return getattr(F, fname)(input, p, train)

    f.__name__ = name
    f.__doc__ = f"``torch.{name}(input, p, train)``: ``torch.nn.functional.{fname}(input, p, training=train)``."
    return f


dropout = _dropout_form("dropout", "dropout")


alpha_dropout = _dropout_form("alpha_dropout", "alpha_dropout")
tensor_method(lambda self, lambd=0.5: _functional("hardshrink")(self, lambd), "hardshrink")


# --- torch.* forms with ATen's positional signatures (they differ from nn.functional's) -----------------
_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _F():
    from ..nn import functional as F

    return F


def _reduction(name, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"torch.{name}: reduction is ATen's integer code 0 (none), 1 (mean) or 2 (sum), "
                         f"got {reduction!r}; nn.functional.{name} takes the string form")
    return _REDUCTIONS[reduction]


def batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps,  # noqa: A002
               cudnn_enabled):
    """``torch.batch_norm`` (ATen's argument order): ``nn.functional.batch_norm``."""
    return _F().batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps,  # noqa: A002
                  cudnn_enabled):
    """``torch.instance_norm`` (ATen's argument order): ``nn.functional.instance_norm``."""
    return _F().instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05, cudnn_enable=True):  # noqa: A002
    """``torch.layer_norm``: ``nn.functional.layer_norm``."""
    return _F().layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05, cudnn_enabled=True):  # noqa: A002
    """``torch.group_norm``: ``nn.functional.group_norm``."""
    return _F().group_norm(input, num_groups, weight, bias, eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):  # noqa: A002
    """``torch.rms_norm``: ``nn.functional.rms_norm``."""
    return _F().rms_norm(input, normalized_shape, weight, eps)


def embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """``torch.embedding(weight, indices, ...)`` (ATen's order; ``padding_idx=-1`` means none)."""
    pad = None if padding_idx is None or padding_idx < 0 else padding_idx
    return _F().embedding(indices, weight, pad, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def kl_div(input, target, reduction=0, *, log_target=False):  # noqa: A002
    """``torch.kl_div``: pointwise KL loss; ``reduction`` is ATen's code (0 none, 1 mean over all elements,
    2 sum); torch 2.13 leaves the default unreduced at run time, and so does this."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, kl_div, input, target, reduction, log_target=log_target)
    red = _reduction("kl_div", reduction)
    loss = _F().kl_div(input, target, reduction="none", log_target=log_target)
    return loss if red == "none" else (loss.mean() if red == "mean" else loss.sum())


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction=0):  # noqa: A002
    """``torch.binary_cross_entropy_with_logits`` (integer ``reduction``)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, binary_cross_entropy_with_logits, input, target, weight, pos_weight, reduction)
    return _F().binary_cross_entropy_with_logits(input, target, weight, reduction=_reduction(
        "binary_cross_entropy_with_logits", reduction), pos_weight=pos_weight)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=0):
    """``torch.cosine_embedding_loss`` (integer ``reduction``)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, cosine_embedding_loss, input1, input2, target, margin, reduction)
    return _F().cosine_embedding_loss(input1, input2, target, margin,
                                      reduction=_reduction("cosine_embedding_loss", reduction))


def hinge_embedding_loss(input, target, margin=1.0, reduction=0):  # noqa: A002
    """``torch.hinge_embedding_loss`` (integer ``reduction``)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, hinge_embedding_loss, input, target, margin, reduction)
    return _F().hinge_embedding_loss(input, target, margin, reduction=_reduction("hinge_embedding_loss", reduction))


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=0):
    """``torch.margin_ranking_loss`` (integer ``reduction``)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, margin_ranking_loss, input1, input2, target, margin, reduction)
    return _F().margin_ranking_loss(input1, input2, target, margin,
                                    reduction=_reduction("margin_ranking_loss", reduction))


def poisson_nll_loss(input, target, log_input, full, eps, reduction):  # noqa: A002
    """``torch.poisson_nll_loss`` (all arguments positional, integer ``reduction``)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, poisson_nll_loss, input, target, log_input, full, eps, reduction)
    return _F().poisson_nll_loss(input, target, log_input, full, eps=eps,
                                 reduction=_reduction("poisson_nll_loss", reduction))


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-06, swap=False, reduction=0):
    """``torch.triplet_margin_loss`` (integer ``reduction``)."""
    if _ac.armed and _ac._state.on:  # autocast: torch's float32 list
        return _ac.run(_ac.FP32, triplet_margin_loss, anchor, positive, negative, margin, p, eps, swap, reduction)
    return _F().triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                    reduction=_reduction("triplet_margin_loss", reduction))


def prelu(input, weight):  # noqa: A002
    """``torch.prelu``: ``nn.functional.prelu``."""
    if _ac.armed and _ac._state.on:  # autocast: torch's lower-precision list
        return _ac.run(_ac.LOWER, prelu, input, weight)
    return _F().prelu(input, weight)


def pdist(input, p=2):  # noqa: A002
    """``torch.pdist``: ``nn.functional.pdist``."""
    return _F().pdist(input, p)


def channel_shuffle(input, groups):  # noqa: A002
    """``torch.channel_shuffle``: ``nn.functional.channel_shuffle``."""
    return _F().channel_shuffle(input, groups)


def _inplace(input, result):  # noqa: A002
    """Write ``result`` into ``input`` (autograd records it as an in-place op on ``input``)."""
    return input.copy_(result)  # result was computed from a clone, so its backward survives the write


def _no_generator(name, generator):
    if generator is not None:
        raise NotImplementedError(f"torch.{name}: a generator= is not supported; seed with ember.manual_seed "
                                  "(the draw uses the default generator)")


def rrelu(input, lower=0.125, upper=0.3333333333333333, training=False, generator=None):  # noqa: A002
    """``torch.rrelu``: ``nn.functional.rrelu`` (default generator only)."""
    _no_generator("rrelu", generator)
    return _F().rrelu(input, lower, upper, training)


def rrelu_(input, lower=0.125, upper=0.3333333333333333, training=False, generator=None):  # noqa: A002
    """``torch.rrelu_``: in-place ``nn.functional.rrelu`` (default generator only)."""
    _no_generator("rrelu_", generator)
    return _inplace(input, _F().rrelu(input.clone(), lower, upper, training))


def selu_(input):  # noqa: A002
    """``torch.selu_``: in-place SELU."""
    return _inplace(input, _F().selu(input.clone()))


def celu_(input, alpha=1.0):  # noqa: A002
    """``torch.celu_``: in-place CELU."""
    return _inplace(input, _F().celu(input.clone(), alpha))


def threshold_(input, threshold, value):  # noqa: A002
    """``torch.threshold_``: in-place threshold."""
    return _inplace(input, _F().threshold(input.clone(), threshold, value))


def dropout_(input, p, train):  # noqa: A002
    """``torch.dropout_(input, p, train)``: in-place dropout."""
    return _inplace(input, _F().dropout(input.clone(), p, train))


def alpha_dropout_(input, p, train):  # noqa: A002
    """``torch.alpha_dropout_(input, p, train)``: in-place alpha dropout."""
    return _inplace(input, _F().alpha_dropout(input.clone(), p, train))


def feature_alpha_dropout(input, p, train):  # noqa: A002
    """``torch.feature_alpha_dropout(input, p, train)``: ``nn.functional.feature_alpha_dropout``."""
    return _F().feature_alpha_dropout(input, p, train)


def feature_alpha_dropout_(input, p, train):  # noqa: A002
    """``torch.feature_alpha_dropout_(input, p, train)``: in-place feature alpha dropout."""
    return _inplace(input, _F().feature_alpha_dropout(input.clone(), p, train))


def adaptive_max_pool1d(input, output_size):  # noqa: A002
    """``torch.adaptive_max_pool1d``: ``(values, indices)`` always."""
    return _F().adaptive_max_pool1d(input, output_size, return_indices=True)


def max_pool1d_with_indices(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):  # noqa: A002
    """``torch.max_pool1d_with_indices`` (``stride=()`` means the kernel size)."""
    stride = None if stride in ((), []) else stride
    return _F().max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=True)


def feature_dropout(input, p, train):  # noqa: A002
    """``torch.feature_dropout(input, p, train)``: zero whole channels (one draw per (N, C) entry of an input
    with at least 2 dims) with probability ``p`` and scale the rest by 1/(1-p)."""
    return _F()._feature_dropout(input, p, train, "feature_dropout", 2)


def feature_dropout_(input, p, train):  # noqa: A002
    """``torch.feature_dropout_(input, p, train)``: in-place ``feature_dropout``."""
    if not train or p == 0:
        _F()._feature_dropout(input, p, train, "feature_dropout_", 2)  # validates p
        return input
    return _inplace(input, _F()._feature_dropout(input.clone(), p, train, "feature_dropout_", 2))


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction=1, zero_infinity=False):
    """``torch.ctc_loss`` with ATen's integer ``reduction`` (0 none, 1 mean, 2 sum):
    ``nn.functional.ctc_loss``."""
    return _F().ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
                         _reduction("ctc_loss", reduction), zero_infinity)


_BAG_MODES = {0: "sum", 1: "mean", 2: "max"}


def embedding_bag(weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False, per_sample_weights=None,
                  include_last_offset=False, padding_idx=None):
    """``torch.embedding_bag``: ATen's form, ``(weight, indices, offsets, ..., mode)`` with ``mode`` 0 (sum),
    1 (mean) or 2 (max), 1-D ``indices`` and ``offsets``. Returns ``(output, offset2bag, bag_size,
    max_indices)`` as torch's CPU kernel does: ``output`` is ``nn.functional.embedding_bag``'s (differentiable
    in ``weight`` and ``per_sample_weights``); the others are int64 bookkeeping (``offset2bag``: each index's
    bag, empty for a float32 sum without ``padding_idx``; ``bag_size``: non-padding entries per bag, zeros
    for sum;
    ``max_indices``: the weight row of each maximum for mode 2, ``bag_size`` for mode 1, zeros for mode 0)."""
    import numpy as np

    from .._tensor import Tensor

    op = "torch.embedding_bag"
    if mode not in _BAG_MODES:
        raise ValueError(f"{op}: mode is ATen's integer code 0 (sum), 1 (mean) or 2 (max), got {mode!r}; "
                         "nn.functional.embedding_bag takes the string form")
    if not isinstance(offsets, Tensor):
        raise TypeError(f"{op}: offsets must be a 1-D int64 tensor of bag starts, got {type(offsets).__name__}; "
                        "nn.functional.embedding_bag takes 2-D indices without offsets")
    if not isinstance(indices, Tensor) or indices.ndim != 1 or offsets.ndim != 1:
        shape = tuple(indices.shape) if isinstance(indices, Tensor) else type(indices).__name__
        raise ValueError(f"{op}: indices and offsets must be 1-D tensors, got indices {shape} and offsets "
                         f"{tuple(offsets.shape)}")
    F = _F()
    out = F.embedding_bag(indices, weight, offsets, None, 2, scale_grad_by_freq, _BAG_MODES[mode], sparse,
                          per_sample_weights, include_last_offset, padding_idx)
    idx = indices._data.astype(np.int64)
    off = offsets._data.astype(np.int64)
    starts = off[:-1] if include_last_offset else off
    nb = len(starts)
    bag = np.searchsorted(starts, np.arange(len(idx)), side="right") - 1 if nb else np.zeros(0, np.int64)
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    keep = idx != padding_idx if padding_idx is not None else np.ones(len(idx), bool)
    counts = np.bincount(bag[keep & (bag >= 0)], minlength=nb)[:nb].astype(np.int64) if nb else np.zeros(0, np.int64)
    if mode == 0:  # torch's sum kernel: float32 without padding_idx takes a fast path that fills no offset2bag
        fast = padding_idx is None and weight._data.dtype == np.float32
        o2b = np.zeros(0, np.int64) if fast else bag.astype(np.int64)
        # torch's no-grad path returns one bag_size entry per offset, its autograd path one per bag
        from ..autograd.grad_mode import STATE

        grad = STATE.enabled and (weight.requires_grad or getattr(per_sample_weights, "requires_grad", False))
        size = np.zeros(nb if grad else len(off), np.int64)
        mx = size.copy()
    else:
        o2b, size = bag.astype(np.int64), counts
        mx = counts.copy()
        if mode == 2:
            w = weight._data
            mx = np.zeros((nb, w.shape[1]), np.int64)
            for b in range(nb):
                rows = idx[(bag == b) & keep]
                if len(rows):
                    mx[b] = rows[np.argmax(w[rows], axis=0)]
    w = Tensor._wrap
    return out, w(o2b), w(size), w(mx)


tensor_method(prelu, "prelu")  # Tensor.prelu(weight)


def _stft_window(window, win_length, n_fft, op, dtype):
    from .. import _dtype as D
    from .creation import ones, zeros
    from .shape import cat

    if win_length <= 0 or win_length > n_fft:
        raise RuntimeError(f"{op}: expected 0 < win_length <= n_fft, but got win_length={win_length}, n_fft={n_fft}")
    if window is None:
        window = ones(win_length, dtype=D.real_of(dtype) if dtype.is_complex else dtype)
    elif window.ndim != 1 or window.shape[0] != win_length:
        raise RuntimeError(f"{op}: expected a 1D window tensor of size equal to win_length={win_length}, but got window "
                           f"with size {tuple(window.shape)}")
    left = (n_fft - win_length) // 2
    if win_length < n_fft:
        window = cat([zeros(left, dtype=window.dtype), window,
                      zeros(n_fft - win_length - left, dtype=window.dtype)])
    return window, left


def stft(input, n_fft, hop_length=None, win_length=None, window=None, center=True, pad_mode="reflect",  # noqa: A002
         normalized=False, onesided=None, return_complex=None, align_to_window=None):
    """Short-time Fourier transform (torch.stft): frames of ``n_fft`` samples every ``hop_length`` (default
    n_fft // 4), times ``window`` (default rectangular, zero-padded to n_fft when shorter), transformed; returns a
    (batch,) n_freq x n_frames complex tensor (``return_complex=False``: its ``view_as_real``). Differentiable."""
    from .. import fft as _fft
    from .complex_ops import view_as_real

    if not isinstance(input, Tensor):
        raise TypeError(f"stft(): argument 'input' must be Tensor, not {type(input).__name__}")
    cplx = input.is_complex() or (window is not None and window.is_complex())
    if return_complex is None:
        if not cplx:
            raise RuntimeError("stft requires the return_complex parameter be given for real inputs, and will further "
                               "require that return_complex=True in a future PyTorch release.")
        return_complex = True
    if input.ndim not in (1, 2):
        raise RuntimeError(f"stft: expected a 1D or 2D tensor, but got a tensor of shape {tuple(input.shape)}")
    hop_length = n_fft // 4 if hop_length is None else hop_length
    win_length = n_fft if win_length is None else win_length
    if hop_length <= 0:
        raise RuntimeError(f"stft: expected hop_length > 0, but got hop_length={hop_length}")
    if center and align_to_window is not None:
        raise RuntimeError("stft align_to_window should only be set when center = false")
    if onesided is None:
        onesided = not cplx
    elif onesided and cplx:
        raise RuntimeError("Cannot have onesided output if window or input is complex")
    x = input
    if x._data.dtype.kind not in "fc":
        from .. import _dtype as D
        from .casting import cast

        x = cast(x, D.get_default_dtype())
    win, left = _stft_window(window, win_length, n_fft, "stft", x.dtype)
    if center:
        from ..nn import functional as F

        p = n_fft // 2
        x = F.pad(x.reshape((1,) * (3 - x.ndim) + tuple(x.shape)), [p, p], pad_mode).reshape(
            tuple(x.shape[:-1]) + (x.shape[-1] + 2 * p,))
    elif align_to_window and win_length < n_fft:
        from .creation import zeros
        from .shape import cat

        z = tuple(x.shape[:-1])
        x = cat([zeros(z + (left,), dtype=x.dtype), x, zeros(z + (n_fft - win_length - left,), dtype=x.dtype)], -1)
    if x.shape[-1] < n_fft:
        raise RuntimeError(f"stft: expected 0 < n_fft <= {x.shape[-1]} (the padded input length), but got n_fft={n_fft}")
    frames = x.unfold(-1, n_fft, hop_length) * win  # (..., n_frames, n_fft)
    norm = "ortho" if normalized else "backward"
    spec = _fft.rfft(frames, dim=-1, norm=norm) if onesided else _fft.fft(frames, dim=-1, norm=norm)
    spec = spec.transpose(-1, -2)
    if return_complex:
        return spec
    import warnings

    warnings.warn("stft with return_complex=False is deprecated. In a future pytorch release, stft will return "
                  "complex tensors for all inputs, and return_complex=False will raise an error. Note: you can still "
                  "call torch.view_as_real on the complex output to recover the old return format.", UserWarning,
                  stacklevel=2)
    return view_as_real(spec)


def istft(input, n_fft, hop_length=None, win_length=None, window=None, center=True, normalized=False,  # noqa: A002
          onesided=None, length=None, return_complex=False):
    """The inverse of ``stft`` (torch.istft): inverse transforms of the frames, windowed overlap-add divided by
    the summed squared window (which must not vanish: torch's NOLA condition). Differentiable."""
    from .. import fft as _fft
    from .creation import arange, zeros
    from .index import index_add

    if not isinstance(input, Tensor):
        raise TypeError(f"istft(): argument 'input' must be Tensor, not {type(input).__name__}")
    if not input.is_complex():
        raise RuntimeError("istft requires a complex-valued input tensor (the output of stft(..., "
                           "return_complex=True)); for a real (..., 2) tensor use view_as_complex first")
    if input.ndim not in (2, 3):
        raise RuntimeError(f"istft: expected a tensor with 2 or 3 dimensions of complex dtype, got shape "
                           f"{tuple(input.shape)}")
    hop_length = n_fft // 4 if hop_length is None else hop_length
    win_length = n_fft if win_length is None else win_length
    if onesided is None:
        onesided = input.shape[-2] != n_fft
    n_freq = input.shape[-2]
    if onesided and n_freq != n_fft // 2 + 1:
        raise RuntimeError(f"istft: expected the frequency dimension (-2) of the input to be n_fft // 2 + 1 = "
                           f"{n_fft // 2 + 1} for a onesided input, but got {n_freq}")
    if not onesided and n_freq != n_fft:
        raise RuntimeError(f"istft: expected the frequency dimension (-2) of the input to be n_fft = {n_fft} when "
                           f"onesided=False, but got {n_freq}")
    if return_complex and onesided:
        raise RuntimeError("cannot have onesided output if window or input is complex")
    from .. import _dtype as D

    rdt = D.real_of(input.dtype)
    win, _ = _stft_window(window, win_length, n_fft, "istft", rdt)
    norm = "ortho" if normalized else "backward"
    spec = input.transpose(-1, -2)  # (..., n_frames, n_freq)
    if onesided:
        frames = _fft.irfft(spec, n=n_fft, dim=-1, norm=norm)
    else:
        frames = _fft.ifft(spec, n=n_fft, dim=-1, norm=norm)
        if not return_complex:
            frames = frames.real
    frames = frames * win
    n_frames = spec.shape[-2]
    expected = n_fft + hop_length * (n_frames - 1)
    idx = (arange(n_frames).reshape(n_frames, 1) * hop_length + arange(n_fft)).reshape(-1)
    batch = tuple(frames.shape[:-2])
    y = index_add(zeros(batch + (expected,), dtype=frames.dtype), -1, idx, frames.reshape(batch + (-1,)))
    wsq = (win * win)._data
    env = np.zeros(expected, wsq.dtype)
    np.add.at(env, idx._data, np.broadcast_to(wsq, (n_frames, n_fft)).reshape(-1))
    start = n_fft // 2 if center else 0
    if length is not None:
        end = start + length
    else:
        end = expected - n_fft // 2 if center else expected
    end_c = min(end, expected)
    y = y[..., start:end_c]
    env = env[start:end_c]
    if env.size and np.abs(env).min() < 1e-11:
        raise RuntimeError("istft: window overlap add min: the summed squared window is (nearly) zero at some "
                           "sample (it must not vanish: the NOLA condition); use a window and hop_length with "
                           "overlap, e.g. hann_window(n_fft) with hop_length <= n_fft // 2")
    y = y / Tensor._wrap(env)
    if end > expected:
        y = _cat_zeros(y, end - expected)
    return y


def _cat_zeros(y, n):
    from .creation import zeros
    from .shape import cat

    return cat([y, zeros(tuple(y.shape[:-1]) + (n,), dtype=y.dtype)], -1)


tensor_method(stft)
tensor_method(istft)


__all__ = _public(globals())
