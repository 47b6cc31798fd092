"""Every layer docs/nn_and_optim.md lists, exported with ember.onnx.export: onnxruntime reproduces ember's
outputs (float32, <= 1e-5 relative) at the traced batch size and at another one (the batch axis is dynamic).
The few layers without a mapping raise UnsupportedOperatorError naming the op and the module path."""
from __future__ import annotations

import io

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _r(*shape):
    return lambda b: ember.randn(b, *shape)


def _seq(*shape):  # a sequence-first input: (L, batch, *)
    return lambda b: ember.randn(shape[0], b, *shape[1:])


def _ids(n, length):
    return lambda b: ember.tensor(np.random.default_rng(b).integers(0, n, size=(b, length)).astype(np.int64))


def _padded_ids(n, length):  # ids in 1..n-1, right-padded with 0 after a random length >= 1
    def mk(b):
        rng = np.random.default_rng(b)
        ids = rng.integers(1, n, size=(b, length))
        ids[np.arange(length)[None, :] >= rng.integers(1, length + 1, size=(b, 1))] = 0
        return ember.tensor(ids.astype(np.int64))
    return mk


def _cls(c, *rest):
    return lambda b: ember.tensor(np.random.default_rng(b).integers(0, c, size=(b, *rest)).astype(np.int64))


def _u(*shape):  # values in (0, 1), e.g. probabilities
    return lambda b: ember.rand(b, *shape) * 0.98 + 0.01


def _prob(c):
    return lambda b: ember.randn(b, c).softmax(-1)


class Call(nn.Module):
    """Wraps a layer whose call needs extra arguments (or several outputs picked)."""

    def __init__(self, layer, fn):
        super().__init__()
        self.layer = layer
        self.fn = fn

    def forward(self, *xs):
        return self.fn(self.layer, *xs)


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def _causal(n):
    return nn.Transformer.generate_square_subsequent_mask(n)


# id -> (model factory, input makers (batch -> tensor), batch axis of each input, batch axis of each output)
CASES = {
    "Linear": (lambda: nn.Linear(5, 3), [_r(5)], [0], [0]),
    "Linear-3d-nobias": (lambda: nn.Linear(5, 3, bias=False), [_r(4, 5)], [0], [0]),
    "LazyLinear": (lambda: nn.LazyLinear(3), [_r(5)], [0], [0]),
    "Bilinear": (lambda: nn.Bilinear(4, 3, 2), [_r(4), _r(3)], [0, 0], [0]),
    "Identity": (lambda: nn.Identity(), [_r(3)], [0], [0]),
    "Embedding": (lambda: nn.Embedding(10, 4, padding_idx=0), [_ids(10, 3)], [0], [0]),
    "Flatten": (lambda: nn.Flatten(), [_r(2, 3, 2)], [0], [0]),
    "Unflatten": (lambda: nn.Unflatten(1, (2, 3)), [_r(6, 2)], [0], [0]),
    "Conv1d": (lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), [_r(3, 9)], [0], [0]),
    "Conv2d-same-dilated": (lambda: nn.Conv2d(2, 4, 3, padding="same", dilation=2), [_r(2, 7, 6)], [0], [0]),
    "Conv2d-groups": (lambda: nn.Conv2d(4, 4, 3, groups=2, padding=1, bias=False), [_r(4, 5, 5)], [0], [0]),
    "Conv2d-reflect": (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), [_r(2, 5, 6)], [0], [0]),
    "Conv2d-replicate": (lambda: nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="replicate"), [_r(2, 5, 6)], [0],
                         [0]),
    "Conv2d-circular": (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), [_r(2, 5, 6)], [0], [0]),
    "Conv3d": (lambda: nn.Conv3d(2, 3, 2, padding=1), [_r(2, 3, 4, 3)], [0], [0]),
    "ConvTranspose1d": (lambda: nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1), [_r(3, 5)],
                        [0], [0]),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, groups=2, dilation=1), [_r(4, 3, 4)], [0], [0]),
    "ConvTranspose3d": (lambda: nn.ConvTranspose3d(2, 2, 2, stride=2), [_r(2, 2, 3, 2)], [0], [0]),
    "MaxPool1d": (lambda: nn.MaxPool1d(3, stride=2, padding=1), [_r(2, 9)], [0], [0]),
    "MaxPool2d-dilated": (lambda: nn.MaxPool2d(2, dilation=2), [_r(2, 7, 7)], [0], [0]),
    "MaxPool3d": (lambda: nn.MaxPool3d(2), [_r(2, 4, 4, 4)], [0], [0]),
    "AvgPool1d": (lambda: nn.AvgPool1d(3, stride=2, padding=1), [_r(2, 9)], [0], [0]),
    "AvgPool2d-ceil": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                       [_r(2, 7, 7)], [0], [0]),
    "AvgPool3d": (lambda: nn.AvgPool3d(2), [_r(2, 4, 4, 4)], [0], [0]),
    "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(3), [_r(2, 9)], [0], [0]),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 1)), [_r(2, 6, 5)], [0], [0]),
    "AdaptiveAvgPool3d": (lambda: nn.AdaptiveAvgPool3d(1), [_r(2, 3, 4, 5)], [0], [0]),
    "AdaptiveMaxPool1d": (lambda: nn.AdaptiveMaxPool1d(1), [_r(2, 9)], [0], [0]),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d(2), [_r(2, 6, 4)], [0], [0]),
    "AdaptiveMaxPool3d": (lambda: nn.AdaptiveMaxPool3d(1), [_r(2, 3, 4, 5)], [0], [0]),
    "Upsample-nearest": (lambda: nn.Upsample(scale_factor=2), [_r(2, 3, 4)], [0], [0]),
    "Upsample-bilinear": (lambda: nn.Upsample(size=(5, 7), mode="bilinear"), [_r(2, 3, 4)], [0], [0]),
    "Upsample-bilinear-aligned": (lambda: nn.UpsamplingBilinear2d(scale_factor=2), [_r(2, 3, 4)], [0], [0]),
    "Upsample-linear": (lambda: nn.Upsample(scale_factor=3, mode="linear"), [_r(2, 5)], [0], [0]),
    "PixelShuffle": (lambda: nn.PixelShuffle(2), [_r(8, 3, 2)], [0], [0]),
    "PixelUnshuffle": (lambda: nn.PixelUnshuffle(2), [_r(2, 4, 6)], [0], [0]),
    "ZeroPad2d": (lambda: nn.ZeroPad2d((1, 2, 0, 1)), [_r(2, 3, 3)], [0], [0]),
    "ConstantPad1d": (lambda: nn.ConstantPad1d(2, 0.5), [_r(2, 3)], [0], [0]),
    "ReflectionPad2d": (lambda: nn.ReflectionPad2d(2), [_r(2, 4, 5)], [0], [0]),
    "ReplicationPad1d": (lambda: nn.ReplicationPad1d((1, 3)), [_r(2, 4)], [0], [0]),
    "CircularPad2d": (lambda: nn.CircularPad2d((1, 0, 2, 1)), [_r(2, 4, 5)], [0], [0]),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(4), [_r(4)], [0], [0]),
    "BatchNorm1d-3d": (lambda: nn.BatchNorm1d(4, affine=False), [_r(4, 3)], [0], [0]),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), [_r(3, 4, 4)], [0], [0]),
    "BatchNorm3d": (lambda: nn.BatchNorm3d(2), [_r(2, 3, 2, 2)], [0], [0]),
    "LayerNorm": (lambda: nn.LayerNorm((3, 4)), [_r(2, 3, 4)], [0], [0]),
    "LayerNorm-nobias": (lambda: nn.LayerNorm(4, bias=False), [_r(4)], [0], [0]),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), [_r(4, 3, 3)], [0], [0]),
    "InstanceNorm1d": (lambda: nn.InstanceNorm1d(3), [_r(3, 6)], [0], [0]),
    "InstanceNorm2d-affine": (lambda: nn.InstanceNorm2d(3, affine=True), [_r(3, 4, 5)], [0], [0]),
    "InstanceNorm2d-running": (lambda: nn.InstanceNorm2d(3, track_running_stats=True), [_r(3, 4, 5)], [0], [0]),
    "RMSNorm": (lambda: nn.RMSNorm(4), [_r(3, 4)], [0], [0]),
    "RMSNorm-eps": (lambda: nn.RMSNorm((3, 4), eps=1e-3, elementwise_affine=False), [_r(3, 4)], [0], [0]),
    "LocalResponseNorm": (lambda: nn.LocalResponseNorm(3), [_r(5, 4, 4)], [0], [0]),
    "RNN-tanh": (lambda: nn.RNN(4, 5), [_seq(3, 4)], [1], [1, 1]),
    "RNN-relu-2layers-bidir-batch_first": (lambda: nn.RNN(4, 5, 2, nonlinearity="relu", batch_first=True,
                                                          bidirectional=True), [_r(3, 4)], [0], [0, 1]),
    "LSTM": (lambda: nn.LSTM(4, 5), [_seq(3, 4)], [1], [1, 1, 1]),
    "LSTM-2layers-bidir-batch_first": (lambda: nn.LSTM(4, 3, num_layers=2, bidirectional=True, batch_first=True,
                                                       bias=False), [_r(3, 4)], [0], [0, 1, 1]),
    "LSTM-initial-state": (lambda: nn.LSTM(4, 5, num_layers=2, batch_first=True),
                           [_r(3, 4), lambda b: ember.randn(2, b, 5), lambda b: ember.randn(2, b, 5)], [0, 1, 1],
                           [0, 1, 1], lambda m, x, h, c: m(x, (h, c))),
    "GRU": (lambda: nn.GRU(4, 5, batch_first=True), [_r(3, 4)], [0], [0, 1]),
    "GRU-2layers-bidir-initial-state": (lambda: nn.GRU(4, 3, num_layers=2, bidirectional=True),
                                        [_seq(3, 4), lambda b: ember.randn(4, b, 3)], [1, 1], [1, 1],
                                        lambda m, x, h: m(x, h)),
    "RNN-initial-state": (lambda: nn.RNN(4, 5), [_seq(3, 4), lambda b: ember.randn(1, b, 5)], [1, 1], [1, 1],
                          lambda m, x, h: m(x, h)),
    "RNNCell": (lambda: nn.RNNCell(4, 5, nonlinearity="relu"), [_r(4), _r(5)], [0, 0], [0],
                lambda m, x, h: m(x, h)),
    "LSTMCell": (lambda: nn.LSTMCell(4, 5), [_r(4)], [0], [0, 0]),
    "LSTMCell-state": (lambda: nn.LSTMCell(4, 5), [_r(4), _r(5), _r(5)], [0, 0, 0], [0, 0],
                       lambda m, x, h, c: m(x, (h, c))),
    "GRUCell": (lambda: nn.GRUCell(4, 5), [_r(4), _r(5)], [0, 0], [0], lambda m, x, h: m(x, h)),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(8, 2), [_seq(4, 8)], [1], [1, 0],
                           lambda m, x: m(x, x, x)),
    "MultiheadAttention-kdim-vdim": (lambda: nn.MultiheadAttention(8, 2, kdim=6, vdim=5, batch_first=True),
                                     [_r(3, 8), _r(4, 6), _r(4, 5)], [0, 0, 0], [0, 0],
                                     lambda m, q, k, v: m(q, k, v, average_attn_weights=False)),
    "MultiheadAttention-key_padding_mask": (
        lambda: nn.MultiheadAttention(8, 2, batch_first=True), [_r(4, 8), _padded_ids(5, 4)], [0, 0], [0, 0],
        lambda m, x, ids: m(x, x, x, key_padding_mask=ids == 0, attn_mask=_causal(4))),
    "TransformerEncoderLayer-norm_first-gelu": (
        lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation="gelu", batch_first=True,
                                           norm_first=True), [_r(4, 8)], [0], [0]),
    "TransformerEncoder-padding": (
        lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2, norm=nn.LayerNorm(8)),
        [_seq(4, 8), _padded_ids(5, 4)], [1, 0], [1], lambda m, x, ids: m(x, src_key_padding_mask=ids == 0)),
    "TransformerDecoderLayer": (
        lambda: nn.TransformerDecoderLayer(8, 2, 16, batch_first=True), [_r(3, 8), _r(5, 8)], [0, 0], [0],
        lambda m, t, s: m(t, s, tgt_mask=_causal(3))),
    "TransformerDecoder": (
        lambda: nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, norm_first=True), 2),
        [_seq(3, 8), _seq(5, 8)], [1, 1], [1], lambda m, t, s: m(t, s, tgt_mask=_causal(3), tgt_is_causal=True)),
    "Transformer": (
        lambda: nn.Transformer(8, 2, 2, 2, 16, batch_first=True), [_r(5, 8), _r(3, 8), _padded_ids(4, 5), _padded_ids(4, 3)],
        [0, 0, 0, 0], [0],
        lambda m, s, t, sp, tp: m(s, t, tgt_mask=_causal(3), src_key_padding_mask=sp == 0,
                                  tgt_key_padding_mask=tp == 0, memory_key_padding_mask=sp == 0)),
    "scaled_dot_product_attention": (
        lambda: Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
        [_r(2, 4, 6), _r(2, 4, 6), _r(2, 4, 5)], [0, 0, 0], [0]),
    "ReLU": (lambda: nn.ReLU(), [_r(6)], [0], [0]),
    "ReLU6": (lambda: nn.ReLU6(), [lambda b: ember.randn(b, 6) * 5], [0], [0]),
    "GELU": (lambda: nn.GELU(), [_r(6)], [0], [0]),
    "GELU-tanh": (lambda: nn.GELU("tanh"), [_r(6)], [0], [0]),
    "SiLU": (lambda: nn.SiLU(), [_r(6)], [0], [0]),
    "Tanh": (lambda: nn.Tanh(), [_r(6)], [0], [0]),
    "Sigmoid": (lambda: nn.Sigmoid(), [_r(6)], [0], [0]),
    "Softmax": (lambda: nn.Softmax(dim=1), [_r(6, 2)], [0], [0]),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-1), [_r(6)], [0], [0]),
    "Softmin": (lambda: nn.Softmin(dim=1), [_r(6)], [0], [0]),
    "Softmax2d": (lambda: nn.Softmax2d(), [_r(3, 2, 2)], [0], [0]),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), [_r(6)], [0], [0]),
    "ELU": (lambda: nn.ELU(0.5), [_r(6)], [0], [0]),
    "SELU": (lambda: nn.SELU(), [_r(6)], [0], [0]),
    "CELU": (lambda: nn.CELU(0.7), [_r(6)], [0], [0]),
    "Mish": (lambda: nn.Mish(), [_r(6)], [0], [0]),
    "Hardswish": (lambda: nn.Hardswish(), [lambda b: ember.randn(b, 6) * 4], [0], [0]),
    "Hardsigmoid": (lambda: nn.Hardsigmoid(), [lambda b: ember.randn(b, 6) * 4], [0], [0]),
    "Hardtanh": (lambda: nn.Hardtanh(-0.5, 0.7), [_r(6)], [0], [0]),
    "PReLU": (lambda: nn.PReLU(3, init=0.1), [_r(3, 4)], [0], [0]),
    "PReLU-shared": (lambda: nn.PReLU(), [_r(3, 4)], [0], [0]),
    "Softplus": (lambda: nn.Softplus(beta=2.0, threshold=3.0), [lambda b: ember.randn(b, 6) * 3], [0], [0]),
    "Softsign": (lambda: nn.Softsign(), [_r(6)], [0], [0]),
    "Tanhshrink": (lambda: nn.Tanhshrink(), [_r(6)], [0], [0]),
    "LogSigmoid": (lambda: nn.LogSigmoid(), [_r(6)], [0], [0]),
    "GLU": (lambda: nn.GLU(), [_r(6)], [0], [0]),
    "Threshold": (lambda: nn.Threshold(0.1, -2.0), [_r(6)], [0], [0]),
    "Hardshrink": (lambda: nn.Hardshrink(0.3), [_r(6)], [0], [0]),
    "Softshrink": (lambda: nn.Softshrink(0.3), [_r(6)], [0], [0]),
    "RReLU": (lambda: nn.RReLU(), [_r(6)], [0], [0]),
    "Dropout": (lambda: nn.Dropout(0.5), [_r(6)], [0], [0]),
    "Dropout1d": (lambda: nn.Dropout1d(0.5), [_r(3, 4)], [0], [0]),
    "Dropout2d": (lambda: nn.Dropout2d(0.5), [_r(3, 4, 4)], [0], [0]),
    "Dropout3d": (lambda: nn.Dropout3d(0.5), [_r(3, 2, 2, 2)], [0], [0]),
    "AlphaDropout": (lambda: nn.AlphaDropout(0.5), [_r(6)], [0], [0]),
    "CrossEntropyLoss": (lambda: nn.CrossEntropyLoss(), [_r(5), _cls(5)], [0, 0], [None]),
    "CrossEntropyLoss-weight-ignore": (lambda: nn.CrossEntropyLoss(weight=ember.rand(5) + 0.5, ignore_index=1),
                                       [_r(5, 3), _cls(5, 3)], [0, 0], [None]),
    "CrossEntropyLoss-smoothing-none": (lambda: nn.CrossEntropyLoss(label_smoothing=0.1, reduction="none"),
                                        [_r(5), _cls(5)], [0, 0], [0]),
    "CrossEntropyLoss-smoothing-ignore": (lambda: nn.CrossEntropyLoss(label_smoothing=0.2, ignore_index=0),
                                          [_r(5), _cls(5)], [0, 0], [None]),
    "CrossEntropyLoss-probabilities": (lambda: nn.CrossEntropyLoss(label_smoothing=0.1), [_r(5), _prob(5)],
                                       [0, 0], [None]),
    "NLLLoss": (lambda: nn.NLLLoss(reduction="sum"), [lambda b: ember.randn(b, 4).log_softmax(1), _cls(4)],
                [0, 0], [None]),
    "BCELoss": (lambda: nn.BCELoss(), [_u(3), _u(3)], [0, 0], [None]),
    "BCEWithLogitsLoss": (lambda: nn.BCEWithLogitsLoss(pos_weight=ember.tensor([1.0, 2.0, 0.5])), [_r(3), _u(3)],
                          [0, 0], [None]),
    "MSELoss": (lambda: nn.MSELoss(), [_r(3), _r(3)], [0, 0], [None]),
    "L1Loss": (lambda: nn.L1Loss(reduction="none"), [_r(3), _r(3)], [0, 0], [0]),
    "SmoothL1Loss": (lambda: nn.SmoothL1Loss(beta=0.5), [_r(3), _r(3)], [0, 0], [None]),
    "HuberLoss": (lambda: nn.HuberLoss(delta=0.5, reduction="sum"), [_r(3), _r(3)], [0, 0], [None]),
    "KLDivLoss": (lambda: nn.KLDivLoss(reduction="batchmean"), [lambda b: ember.randn(b, 4).log_softmax(1),
                                                                _prob(4)], [0, 0], [None]),
    "MarginRankingLoss": (lambda: nn.MarginRankingLoss(0.1), [_r(), _r(), lambda b: ember.randn(b).sign()], [0, 0, 0],
                          [None]),
    "TripletMarginLoss": (lambda: nn.TripletMarginLoss(swap=True), [_r(4), _r(4), _r(4)], [0, 0, 0], [None]),
    "CosineEmbeddingLoss": (lambda: nn.CosineEmbeddingLoss(0.1, reduction="none"),
                            [_r(4), _r(4), lambda b: ember.randn(b).sign()], [0, 0, 0], [0]),
    "HingeEmbeddingLoss": (lambda: nn.HingeEmbeddingLoss(), [_r(4), lambda b: ember.randn(b, 4).sign()], [0, 0],
                           [None]),
    "SoftMarginLoss": (lambda: nn.SoftMarginLoss(), [_r(4), lambda b: ember.randn(b, 4).sign()], [0, 0], [None]),
    "GaussianNLLLoss": (lambda: nn.GaussianNLLLoss(full=True), [_r(4), _r(4), _u(4)], [0, 0, 0], [None]),
    "KLDivLoss-log_target": (lambda: nn.KLDivLoss(reduction="sum", log_target=True),
                             [lambda b: ember.randn(b, 4).log_softmax(1), lambda b: ember.randn(b, 4).log_softmax(1)],
                             [0, 0], [None]),
}

# layers with no ONNX mapping (none of them is listed in the docs): (factory, inputs)
UNMAPPED = {
    "Fold": (lambda: nn.Fold((4, 4), 2), [ember.randn(2, 12, 9)]),
    "MaxUnpool1d": (lambda: nn.MaxUnpool1d(2), [ember.randn(2, 3, 4),
                                                ember.tensor(np.tile(np.array([0, 3, 5, 6]), (2, 3, 1)))]),
    "EmbeddingBag": (lambda: nn.EmbeddingBag(10, 3), [ember.tensor(np.array([[1, 2, 3], [4, 5, 6]]))]),
    "MultiMarginLoss": (lambda: nn.MultiMarginLoss(), [ember.randn(3, 4), ember.tensor(np.array([0, 2, 3]))]),
}


def _export(model, xs, baxes, oaxes):
    names = [f"in{i}" for i in range(len(xs))]
    onames = [f"out{i}" for i in range(len(oaxes))]
    dyn = {n: {a: "batch"} for n, a in zip(names, baxes) if a is not None}
    dyn.update({n: {a: "batch"} for n, a in zip(onames, oaxes) if a is not None})
    buf = io.BytesIO()
    ember.onnx.export(model, tuple(xs), buf, input_names=names, output_names=onames, dynamic_axes=dyn)
    return buf.getvalue(), names


def _flat_np(y):
    if isinstance(y, (tuple, list)):
        return [a for v in y for a in _flat_np(v)]
    return [y.detach().numpy()]


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_exports_and_matches_onnxruntime(case):
    spec = CASES[case]
    factory, makers, baxes, oaxes = spec[:4]
    call = spec[4] if len(spec) > 4 else None
    ember.manual_seed(0)
    layer = factory()
    model = Call(layer, call) if call is not None else layer
    xs = [mk(2) for mk in makers]
    model(*xs)  # materializes lazy layers
    if any("BatchNorm" in type(m).__name__ or "InstanceNorm" in type(m).__name__ for m in model.modules()):
        model.train()
        with ember.no_grad():
            for _ in range(2):  # move the running statistics off their initial values
                model(*[mk(4) for mk in makers])
    for m in model.modules():  # non-trivial affine parameters and biases
        for name, p in m.named_parameters(recurse=False):
            if name in ("weight", "bias") and p.ndim == 1 and "Norm" in type(m).__name__:
                with ember.no_grad():
                    p.copy_(ember.randn(*p.shape) * 0.5 + (1.0 if name == "weight" else 0.0))
    model.eval()
    data, names = _export(model, xs, baxes, oaxes)
    onnx.checker.check_model(onnx.load_from_string(data))
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for b in (2, 5):
        ins = xs if b == 2 else [mk(b) for mk in makers]
        want = _flat_np(model(*ins))
        got = sess.run(None, {n: x.numpy() for n, x in zip(names, ins)})
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape, (case, b)
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(w).max())),
                                       err_msg=f"{case} at batch {b}")


@pytest.mark.parametrize("case", sorted(UNMAPPED))
def test_unmapped_layers_name_the_op_and_module(case):
    factory, xs = UNMAPPED[case]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.loss = factory()

        def forward(self, *a):
            return self.loss(*a)

    with pytest.raises(ember.onnx.UnsupportedOperatorError, match=r"the op [\w.]+( \(\w+\))? \(in "
                       r"module Net/loss\) has no ONNX mapping"):
        ember.onnx.export(Net().eval(), tuple(xs), io.BytesIO())
