"""ember.onnx.export: the exported file passes onnx.checker and onnxruntime reproduces ember's outputs
(float32, <= 1e-5 relative) at a batch size other than the traced one (dynamic batch axis)."""
from __future__ import annotations

import io
import math
import sys

import numpy as np
import pytest

import ember
import ember.nn as nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _roundtrip(model, example, others, int_input=False):
    model.eval()
    buf = io.BytesIO()
    ember.onnx.export(model, example, buf, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m)
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for x in [example] + others:
        want = model(x).detach().numpy()
        got = sess.run(None, {"x": x.numpy()})[0]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(want).max())))
    return m


def test_mlp():
    ember.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3),
                      nn.LogSoftmax(dim=1))
    _roundtrip(m, ember.randn(4, 6), [ember.randn(9, 6), ember.randn(1, 6)])


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, stride=1, padding=1, groups=2), nn.BatchNorm2d(8), nn.LeakyReLU(0.1),
            nn.AvgPool2d(2), nn.Dropout(0.5),
        )
        self.head = nn.Linear(8 * 2 * 2, 5)
        self.bn = nn.BatchNorm1d(5)

    def forward(self, x):
        h = self.features(x)
        h = h.view(h.size(0), -1)  # the batch size as a Python int: exported as a dynamic dimension
        return self.bn(self.head(h)) * 2.0 + 1.0


def test_cnn_with_batchnorm_pooling_dropout():
    ember.manual_seed(0)
    m = CNN()
    m.train()
    for _ in range(2):  # move the running statistics away from their initial values
        m(ember.randn(6, 3, 8, 8))
    m.eval()
    _roundtrip(m, ember.randn(2, 3, 8, 8), [ember.randn(5, 3, 8, 8)])


@pytest.mark.parametrize("layer,shape", [
    (lambda: nn.Conv1d(3, 4, 3, padding=2, dilation=2), (2, 3, 10)),
    (lambda: nn.Sequential(nn.Conv2d(2, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), (2, 2, 7, 7)),
    (lambda: nn.LayerNorm(5), (3, 4, 5)),
    (lambda: nn.GELU(), (3, 5)),
    (lambda: nn.GELU(approximate="tanh"), (3, 5)),
    (lambda: nn.ELU(alpha=0.7), (3, 5)),
    (lambda: nn.Sigmoid(), (3, 5)),
    (lambda: nn.Softmax(dim=-1), (3, 5)),
    (lambda: nn.Flatten(), (3, 2, 5)),
    (lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 2, 7, 7)),
    (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (2, 2, 7, 7)),
])
def test_common_layers(layer, shape):
    ember.manual_seed(1)
    m = layer()
    other = (shape[0] + 3,) + shape[1:]
    _roundtrip(m, ember.randn(*shape), [ember.randn(*other)])


def test_embedding_with_integer_input():
    ember.manual_seed(0)
    m = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 2))
    m.eval()
    buf = io.BytesIO()
    idx = ember.tensor(np.array([[1, 2, 3], [4, 5, 9]], dtype=np.int64))
    ember.onnx.export(m, idx, buf, input_names=["tokens"], dynamic_axes={"tokens": [0]})
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    other = np.array([[0, 0, 1], [2, 3, 4], [9, 8, 7]], dtype=np.int64)
    np.testing.assert_allclose(sess.run(None, {"tokens": other})[0], m(ember.tensor(other)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_torch_style_call_and_file_path(tmp_path):
    import ember as torch

    m = nn.Linear(3, 2)
    p = tmp_path / "m.onnx"
    with pytest.warns(UserWarning, match="training mode.*eval mode"):
        torch.onnx.export(m, (ember.randn(1, 3),), str(p))
    assert m.training  # the mode is restored after the export
    model = onnx.load(str(p))
    assert [i.name for i in model.graph.input] == ["input_0"] and [o.name for o in model.graph.output] == ["output_0"]


def test_errors():
    m = nn.Linear(3, 2).eval()
    x = ember.randn(2, 3)
    with pytest.raises(ValueError, match="dynamic_axes names 'inp'.*inputs are \\['x'\\]"):
        ember.onnx.export(m, x, io.BytesIO(), input_names=["x"], dynamic_axes={"inp": {0: "b"}})

    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(nn.Linear(3, 3))
            self.inner = Exp()

        def forward(self, x):
            return self.inner(self.block(x)) + 1.0

    class Exp(nn.Module):
        def forward(self, x):
            return x.cumprod(1)

    with pytest.raises(ember.onnx.UnsupportedOperatorError, match=r"the op Tensor.cumprod \(\w+Backward\d*\) \(in module "
                       r"Odd/inner\) has no ONNX mapping"):
        ember.onnx.export(Odd().eval(), x, io.BytesIO())
    with pytest.raises(ValueError, match="opset_version=11"):
        ember.onnx.export(m, x, io.BytesIO(), opset_version=11)


def test_without_the_extra_the_error_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"ember\[onnx\]"):
        ember.onnx.export(nn.Linear(2, 2), ember.randn(1, 2), io.BytesIO())


class LM(nn.Module):
    """Embedding + recurrent layer + linear head over the vocabulary."""

    def __init__(self, rnn):
        super().__init__()
        self.emb = nn.Embedding(20, 6)
        self.rnn = rnn
        h = rnn.hidden_size * (2 if rnn.bidirectional else 1)
        self.head = nn.Linear(h, 20)

    def forward(self, tokens):
        out, _ = self.rnn(self.emb(tokens))
        return self.head(out)


@pytest.mark.parametrize("rnn", [
    lambda: nn.LSTM(6, 8, batch_first=True),
    lambda: nn.LSTM(6, 5, num_layers=2, batch_first=True, bidirectional=True),
    lambda: nn.GRU(6, 8, batch_first=True),
    lambda: nn.GRU(6, 4, num_layers=2, batch_first=True, bidirectional=True),
])
def test_embedding_rnn_language_model(rnn):
    ember.manual_seed(0)
    m = LM(rnn()).eval()
    rng = np.random.default_rng(0)
    tok = ember.tensor(rng.integers(0, 20, size=(2, 5)).astype(np.int64))
    buf = io.BytesIO()
    ember.onnx.export(m, tok, buf, input_names=["tokens"], output_names=["logits"],
                      dynamic_axes={"tokens": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}})
    onnx.checker.check_model(onnx.load_from_string(buf.getvalue()))
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for b, n in ((2, 5), (4, 5), (3, 8)):  # the batch and the sequence length are dynamic
        t = rng.integers(0, 20, size=(b, n)).astype(np.int64)
        want = m(ember.tensor(t)).detach().numpy()
        got = sess.run(None, {"tokens": t})[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


class Encoder(nn.Module):
    """Token embedding + learned positions + a causal transformer encoder + a head."""

    def __init__(self, seq=6, d=16, batch_first=True, activation="relu"):
        super().__init__()
        self.emb = nn.Embedding(30, d)
        self.pos = nn.Parameter(ember.randn(seq, d) * 0.1)
        layer = nn.TransformerEncoderLayer(d, 4, 32, dropout=0.1, batch_first=batch_first, activation=activation)
        self.enc = nn.TransformerEncoder(layer, num_layers=2)
        self.batch_first = batch_first
        self.head = nn.Linear(d, 30)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(seq))

    def forward(self, tokens):
        h = self.emb(tokens) + self.pos
        if not self.batch_first:
            h = h.transpose(0, 1)
        h = self.enc(h, mask=self.mask)
        if not self.batch_first:
            h = h.transpose(0, 1)
        return self.head(h)


@pytest.mark.parametrize("batch_first,activation", [(True, "relu"), (False, "gelu")])
def test_transformer_encoder_with_causal_mask(batch_first, activation):
    ember.manual_seed(0)
    m = Encoder(batch_first=batch_first, activation=activation).eval()
    rng = np.random.default_rng(0)
    tok = ember.tensor(rng.integers(0, 30, size=(2, 6)).astype(np.int64))
    buf = io.BytesIO()
    ember.onnx.export(m, tok, buf, input_names=["tokens"], output_names=["logits"],
                      dynamic_axes={"tokens": {0: "batch"}, "logits": {0: "batch"}})
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for b in (2, 3):
        t = rng.integers(0, 30, size=(b, 6)).astype(np.int64)
        want = m(ember.tensor(t)).detach().numpy()
        np.testing.assert_allclose(sess.run(None, {"tokens": t})[0], want, rtol=1e-5, atol=1e-5)


def test_multihead_attention_returns_weights():
    ember.manual_seed(0)

    class SelfAttn(nn.Module):
        def __init__(self):
            super().__init__()
            self.att = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            out, w = self.att(x, x, x, attn_mask=nn.Transformer.generate_square_subsequent_mask(4))
            return out + w @ x  # the averaged attention weights are exported too

    _roundtrip(SelfAttn(), ember.randn(1, 4, 8), [ember.randn(3, 4, 8)])


class Ops(nn.Module):
    """Tensor ops used inside forward (x: (N, 4, 6), ids: (N, 4) int64)."""

    def __init__(self, which):
        super().__init__()
        self.which = which
        self.lin = nn.Linear(6, 6)
        self.scale = nn.Parameter(ember.randn(6))
        self.register_buffer("table", ember.randn(5, 6))

    def forward(self, x, ids):
        x = self.lin(x)
        w = self.which
        if w == "reductions":
            return ember.stack([x.sum(1), x.mean(dim=-2), x.amax(1), x.max(dim=1)[0] + x.min(1).values * 0.5 + ember.max(x, other=x * 0.5)[:, 0], x.var(1), x.std(1, keepdim=True)
                                .squeeze(1), x.sum((1, 2), keepdim=True).expand(-1, 1, 6).squeeze(1)], 1)
        if w == "indexing":
            return ember.cat([x[:, 0], x[:, -1, 1:5:2].repeat(1, 3), x[..., 2], x[:, None, 1, :].flatten(1),
                              x[:, ember.tensor([3, 0])].reshape(x.size(0), -1)[:, :6]], dim=1)
        if w == "shapes":
            y = x.permute(0, 2, 1).transpose(1, 2).contiguous().view(-1, 24).reshape(x.shape[0], 2, 12)
            z = x.unsqueeze(1).squeeze(1).unflatten(2, (2, 3)).flatten(2) + y.view_as(x)
            a, b = z.chunk(2, dim=2)
            c, d = z.split([2, 4], dim=-1)
            return ember.cat([a * b, c.sum(-1, keepdim=True) * d[..., :3]], 2) @ x.transpose(-1, -2)
        if w == "arithmetic":
            y = (2.0 - x) * 3 / (1.5 + x.abs()) + x ** 2 - (-x) + 1 / (x.exp() + 1.0) + x.abs().sqrt()
            y = y + x.tanh() * x.sigmoid() + x.relu() + ember.matmul(x, self.scale.unsqueeze(-1)) + self.scale.t()
            y += 1.0
            y *= self.scale
            return y.clamp(-3.0, 3.0) + x.clamp(min=0.5) + ember.maximum(x, -x)
        if w == "masks":
            keep = (ids != 0) & (ids < 4)
            y = x.masked_fill(~keep.unsqueeze(-1), -1.0)
            y = ember.where(x > 0.5, y, x * 2) + (x >= 0).float() - (x <= -1).to(x.dtype) + (ids == 2).unsqueeze(-1)
            return y.softmax(-1) + ember.nn.functional.log_softmax(y, dim=1) + ember.zeros_like(y) + \
                ember.ones_like(x) * 0.5
        if w == "gather":
            return self.table[ids] + nn.functional.embedding(ids, self.table) + x
        if w == "attention":
            q = x.view(x.size(0), 4, 2, 3).transpose(1, 2)
            att = (q @ q.transpose(-2, -1) / 3 ** 0.5).masked_fill(ember.ones(4, 4, dtype=ember.bool).triu(1), -1e9)
            return (att.softmax(-1) @ q).transpose(1, 2).reshape(x.shape[0], 4, 6)
        raise AssertionError(w)


@pytest.mark.parametrize("which", ["reductions", "indexing", "shapes", "arithmetic", "masks", "gather", "attention"])
def test_tensor_ops_inside_forward(which):
    ember.manual_seed(0)
    m = Ops(which).eval()
    rng = np.random.default_rng(0)

    def inputs(b):
        return ember.rand(b, 4, 6) + 0.1, ember.tensor(rng.integers(0, 5, size=(b, 4)).astype(np.int64))

    buf = io.BytesIO()
    ember.onnx.export(m, inputs(2), buf, input_names=["x", "ids"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "ids": {0: "batch"}, "y": {0: "batch"}})
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for b in (2, 5):
        x, ids = inputs(b)
        want = m(x, ids).detach().numpy()
        got = sess.run(None, {"x": x.numpy(), "ids": ids.numpy()})[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(want).max())))


def test_constant_folding_acts():
    ember.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)
            self.w = nn.Parameter(ember.randn(3, 4))

        def forward(self, x):
            return self.lin(x) + x @ (self.w * 2).t()

    m = Net().eval()
    x = ember.randn(2, 4)
    models = {}
    for fold in (True, False):
        buf = io.BytesIO()
        ember.onnx.export(m, x, buf, do_constant_folding=fold)
        models[fold] = onnx.load_from_string(buf.getvalue())
        got = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"input_0": x.numpy()})
        np.testing.assert_allclose(got[0], m(x).detach().numpy(), rtol=1e-5, atol=1e-6)

    def on_weights(model):  # nodes all of whose inputs are initializers
        inits = {i.name for i in model.graph.initializer}
        return [n.op_type for n in model.graph.node if n.input and all(i in inits for i in n.input)]

    assert on_weights(models[True]) == []
    assert sorted(on_weights(models[False])) == ["Mul", "Transpose"]  # w * 2 and lin.weight^T (then (w * 2).t())
    assert len(models[True].graph.node) < len(models[False].graph.node)
    names = {i.name for i in models[False].graph.initializer}
    assert {"lin.weight", "lin.bias", "w"} <= names  # parameters are stored under their state_dict names


def test_training_mode_exports_eval_behaviour():
    ember.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.BatchNorm1d(8))
    m(ember.randn(6, 4))  # update the running statistics
    x = ember.randn(3, 4)
    buf = io.BytesIO()
    with pytest.warns(UserWarning, match="training mode.*eval mode"):
        ember.onnx.export(m, x, buf)
    assert m.training
    got = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"input_0": x.numpy()})[0]
    np.testing.assert_allclose(got, m.eval()(x).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_in_place_ops():
    class Net(nn.Module):
        def __init__(self, bad):
            super().__init__()
            self.bad = bad

        def forward(self, x):
            y = x * 2
            z = y + 1
            if self.bad == "method":
                y.tanh_()  # no mapping
            elif self.bad == "setitem":
                y[0] = 0.0  # changes y after z was recorded from it: must not be silently ignored
            else:
                y.relu_()
                y += z
                y.mul_(0.5)
            return z + y

    x = ember.randn(2, 3)
    buf = io.BytesIO()
    ember.onnx.export(Net(None).eval(), x, buf)
    got = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"input_0": x.numpy()})[0]
    np.testing.assert_allclose(got, Net(None)(x).numpy(), rtol=1e-6)
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match=r"the op Tensor.tanh_ \(TanhBackward0\) \(in module Net\)"):
        ember.onnx.export(Net("method").eval(), x, io.BytesIO())
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match=r"modified in place \(by \w+, in module Net\)"):
        ember.onnx.export(Net("setitem").eval(), x, io.BytesIO())


def test_unmapped_op_on_integer_input_is_not_frozen():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)

        def forward(self, ids):
            return self.emb(ids.argsort(1))  # argsort of the ids has no mapping: it must not become a constant

    ids = ember.tensor(np.array([[3, 1, 2]]))
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match=r"the op Tensor.argsort \(in module Net\)"):
        ember.onnx.export(Net().eval(), ids, io.BytesIO())


def test_torch_2x_keyword_arguments():
    import ember as torch

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x, bias=None, scale=1.0):
            return self.lin(x) * scale + bias

    m = Net().eval()
    seen = []
    m.register_forward_hook(lambda mod, i, o: seen.append(torch.onnx.is_in_onnx_export()))
    x, b = ember.randn(4, 3), ember.randn(4, 2)
    buf = io.BytesIO()
    torch.onnx.export(m, (x,), buf, kwargs={"bias": b, "scale": 2.0}, dynamo=False, verify=True,
                      keep_initializers_as_inputs=True, training=torch.onnx.TrainingMode.EVAL,
                      dynamic_axes={"input_0": {0: "n"}, "bias": {0: "n"}, "output_0": {0: "n"}})
    model = onnx.load_from_string(buf.getvalue())
    names = [i.name for i in model.graph.input]
    assert names[:2] == ["input_0", "bias"] and "lin.bias" in names  # tensors in kwargs follow args, by key
    assert seen == [True] and not torch.onnx.is_in_onnx_export()
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    x2, b2 = ember.randn(6, 3), ember.randn(6, 2)
    got = sess.run(["output_0"], {"input_0": x2.numpy(), "bias": b2.numpy()})[0]
    np.testing.assert_allclose(got, m(x2, bias=b2, scale=2.0).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_option_errors():
    m, x = nn.Linear(3, 2).eval(), ember.randn(2, 3)
    with pytest.raises(TypeError, match="unexpected argument 'bogus'"):
        ember.onnx.export(m, x, io.BytesIO(), bogus=1)
    with pytest.raises(ValueError, match="external_data=False is not supported"):
        ember.onnx.export(m, x, io.BytesIO(), external_data=False)
    with pytest.raises(TypeError, match="f .* is required"):
        ember.onnx.export(m, x)
    with pytest.raises(ValueError, match="training=.*TRAINING.*eval-mode"):
        ember.onnx.export(m, x, io.BytesIO(), training=ember.onnx.TrainingMode.TRAINING)
    with pytest.raises(ValueError, match="PRESERVE on a model in training mode"):
        ember.onnx.export(nn.Linear(3, 2), x, io.BytesIO(), training=ember.onnx.TrainingMode.PRESERVE)
    with pytest.raises(ValueError, match="dynamic_axes\\['x'\\] names axis 2, but x has 2 dimensions"):
        ember.onnx.export(m, x, io.BytesIO(), input_names=["x"], dynamic_axes={"x": [2]})
    with pytest.raises(ValueError, match="3 input_names for 1 inputs"):
        ember.onnx.export(m, x, io.BytesIO(), input_names=["a", "b", "c"])
    with pytest.raises(TypeError, match="args must be a Tensor"):
        ember.onnx.export(m, [1, 2], io.BytesIO())


def test_verify_reports_a_disagreement(monkeypatch):
    m, x = nn.Linear(3, 2).eval(), ember.randn(2, 3)
    real = ember.onnx._linear

    def wrong(t, mod, xx, y):  # a deliberately wrong mapping: verify must notice
        real(t, mod, xx, None)
        t.node("Neg", [t.nodes[-1].output[0]], y)

    monkeypatch.setitem(ember.onnx._module_handlers.__globals__, "_linear", wrong)
    with pytest.raises(RuntimeError, match="verify=True.*output_0 differs"):
        ember.onnx.export(m, x, io.BytesIO(), verify=True)


def test_causal_transformer_with_dynamic_sequence_length():
    ember.manual_seed(0)

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(30, 8)
            self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2)
            self.head = nn.Linear(8, 30)

        def forward(self, tokens):
            h = self.emb(tokens)
            mask = nn.Transformer.generate_square_subsequent_mask(tokens.shape[1])  # a constant causal mask
            h = self.enc(h, mask=mask)
            q = h.view(h.size(0), h.size(1), 2, 4).transpose(1, 2)
            h = h + nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True).transpose(1, 2).flatten(2)
            return self.head(h)

    m = LM().eval()
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    ember.onnx.export(m, ember.tensor(rng.integers(0, 30, size=(2, 5))), buf, input_names=["tokens"],
                      output_names=["logits"], dynamic_axes={"tokens": {0: "batch", 1: "seq"},
                                                             "logits": {0: "batch", 1: "seq"}})
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for b, n in ((2, 5), (3, 9), (1, 2)):  # other batch sizes and sequence lengths than traced
        tok = rng.integers(0, 30, size=(b, n))
        want = m(ember.tensor(tok)).detach().numpy()
        np.testing.assert_allclose(sess.run(None, {"tokens": tok})[0], want, rtol=1e-5, atol=1e-5)


# Programs written as torch users write them: a residual CNN (inplace ReLU, out += identity, F.relu(inplace=True),
# torch.flatten), a VAE (two inputs, three outputs), a GPT-style block (split, arange positions, a sliced tril
# buffer with masked_fill, list indexing).
class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = x
        out = self.relu(self.b1(self.c1(x)))
        out = self.b2(self.c2(out))
        out += identity
        return ember.nn.functional.relu(out, inplace=True)


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.layer = nn.Sequential(Block(8), Block(8))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.layer(ember.nn.functional.relu(self.stem(x)))
        x = ember.flatten(ember.nn.functional.adaptive_avg_pool2d(x, (1, 1)), 1)
        return self.fc(x)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.mu, self.lv, self.dec = nn.Linear(6, 8), nn.Linear(8, 2), nn.Linear(8, 2), nn.Linear(2, 6)

    def forward(self, x, eps):
        h = ember.nn.functional.relu(self.enc(x))
        mu, lv = self.mu(h), self.lv(h)
        z = mu + eps * ember.exp(0.5 * lv)
        return ember.sigmoid(self.dec(z)), mu, lv


class GPT(nn.Module):
    def __init__(self, T=8, d=16, V=20):
        super().__init__()
        self.tok, self.pos = nn.Embedding(V, d), nn.Embedding(T, d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, V, bias=False)
        self.register_buffer("bias", ember.tril(ember.ones(T, T)).view(1, 1, T, T))

    def forward(self, idx):
        B, T = idx.size()
        pos = ember.arange(0, T, dtype=ember.long)
        x = self.tok(idx) + self.pos(pos)
        q, k, v = self.qkv(self.ln(x)).split(16, dim=2)
        q, k, v = (a.view(B, T, 2, 8).transpose(1, 2) for a in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = ember.nn.functional.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, 16)
        x = x + self.proj(y)
        return self.head(x[:, [-1], :])


@pytest.mark.parametrize("name", ["resnet", "vae", "gpt"])
def test_programs_as_torch_users_write_them(name):
    ember.manual_seed(0)
    rng = np.random.default_rng(0)
    m, make = {"resnet": (ResNet, lambda b: (ember.randn(b, 3, 16, 16),)),
               "vae": (VAE, lambda b: (ember.randn(b, 6), ember.randn(b, 2))),
               "gpt": (GPT, lambda b: (ember.tensor(rng.integers(0, 20, (b, 8))),))}[name]
    m = m().eval()
    xs = make(2)
    names = [f"input_{i}" for i in range(len(xs))]
    n_out = 3 if name == "vae" else 1
    dyn = {n: {0: "batch"} for n in names + [f"output_{i}" for i in range(n_out)]}
    buf = io.BytesIO()
    ember.onnx.export(m, xs, buf, dynamic_axes=dyn, verify=True)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    xs = make(5)
    want = m(*xs)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(sess.run(None, dict(zip(names, [x.numpy() for x in xs]))), want):
        np.testing.assert_allclose(g, w.detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("act", [nn.ReLU(inplace=True), nn.ReLU6(inplace=True), nn.LeakyReLU(0.1, inplace=True),
                                 nn.ELU(inplace=True), nn.SiLU(inplace=True), nn.Hardswish(inplace=True),
                                 nn.Hardsigmoid(inplace=True), nn.Hardtanh(-0.5, 0.5, inplace=True)],
                         ids=lambda m: type(m).__name__)
def test_inplace_activation_layers_export_as_their_out_of_place_forms(act):
    # torchvision-style models use inplace=True activations; the exported graph must compute the same values
    m = nn.Sequential(nn.Linear(4, 6), act, nn.Linear(6, 3)).eval()
    x = ember.randn(5, 4)
    buf = io.BytesIO()
    ember.onnx.export(m, x, buf)
    got = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"input_0": x.numpy()})[0]
    np.testing.assert_allclose(got, m(x).detach().numpy(), rtol=1e-5, atol=1e-6)
