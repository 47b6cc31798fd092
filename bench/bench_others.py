"""ember against mygrad and HIPS autograd (with torch for scale), interleaved in one process.

    python bench/bench_others.py [--quick] [--threads N] [--only chain,mlp,cnn,lstm,transformer]
                                 [--libs ember,torch,mygrad,autograd] [--profile NAME]

Issue 3 asks ember to be faster than mygrad and HIPS autograd on every workload they can run. The
workloads are those of bench_core.py (a 200-op elementwise chain on a 32x32 float32 tensor, forward and
backward) and bench_nn.py (training steps of an MLP, a CNN, an LSTM character model unrolled in a
Python loop and a small transformer encoder), each written the way a user of that library would write
it:

* ember and torch: their nn modules, functional cross-entropy and optimizers (as in bench_nn.py);
* mygrad: mygrad tensors and ops (``mygrad.nnet`` for relu/sigmoid/softmax/softmax_crossentropy/
  conv_nd/max_pool), ``loss.backward()``, parameters updated in place through ``p.data``;
* HIPS autograd: a pure loss function of NumPy arrays written with ``autograd.numpy``,
  ``autograd.value_and_grad`` of it, parameter arrays updated by hand. Convolution uses the library's
  own ``autograd.scipy.signal.convolve`` and pooling a reshape + max, as in autograd's convnet example.
  Sigmoid is declared as a primitive with its VJP (autograd's documented extension mechanism), so
  the chain counts one recorded op per logical op, as the other libraries do.

The optimizers of mygrad and autograd (neither library ships one) are written here once over NumPy
arrays with torch's update rules (SGD with momentum, Adam, AdamW), so every library takes the same step.
All libraries start from the same weights (torch's initialisation, copied) and the same data; before
timing, each library's first-step loss, gradients and updated parameters are checked against ember's
(``assert_allclose``), so every library computes the same thing.

Timing: all libraries' steps are run interleaved (round robin) in one process; the median and the minimum
per step are printed, with the ratio library/ember of the medians (above 1 means ember is faster).
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and "--threads" in sys.argv:  # must happen before NumPy loads its BLAS
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = sys.argv[sys.argv.index("--threads") + 1]

import importlib  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_core import N_OPS, chain  # noqa: E402
from harness import torch_threads  # noqa: E402

ALL_LIBS = ("ember", "torch", "mygrad", "autograd")
OTHERS = ("mygrad", "autograd")
INSTALL_HINT = "pip install -e .[bench]   (or: pip install mygrad autograd)"
F32 = np.float32


# ---------------------------------------------------------------------------- shared NumPy optimizers
# Neither mygrad nor autograd ships an optimizer; these follow torch's update rules step for step and
# update the parameter arrays in place.


class NumpySGD:
    def __init__(self, lr, momentum=0.0):
        self.lr, self.momentum, self.buf = lr, momentum, {}

    def update(self, name, p, g):
        if self.momentum:
            b = self.buf.get(name)
            if b is None:
                b = self.buf[name] = g.copy()
            else:
                b *= self.momentum
                b += g
            g = b
        p -= self.lr * g


class NumpyAdam:
    """torch.optim.Adam (weight_decay=0) or, with decoupled_wd, torch.optim.AdamW."""

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, decoupled_wd=0.0):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, decoupled_wd
        self.state = {}

    def update(self, name, p, g):
        st = self.state.get(name)
        if st is None:
            st = self.state[name] = [0, np.zeros_like(p), np.zeros_like(p)]
        st[0] += 1
        t, m, v = st
        if self.wd:
            p *= 1 - self.lr * self.wd
        m *= self.b1
        m += (1 - self.b1) * g
        v *= self.b2
        v += (1 - self.b2) * (g * g)
        step = self.lr / (1 - self.b1 ** t)
        denom = np.sqrt(v)
        denom /= math.sqrt(1 - self.b2 ** t)
        denom += self.eps
        p -= step * m / denom


# ---------------------------------------------------------------------------- library adapters
# An implementation is an object with step() (the timed call: zero grads, forward, loss, backward,
# update) and result() -> (loss, {name: grad}, {name: param}) in torch's layout, for the first-step check.


class EmberTorchImpl:
    """ember or torch: an nn.Module, a loss closure and an optimizer of the library itself."""

    def __init__(self, model, forward_loss, opt, params=None):
        self.model, self.forward_loss, self.opt = model, forward_loss, opt
        self.params = params  # for the chain (no module): {name: leaf tensor}
        self.loss = None

    def step(self):
        self.opt.zero_grad()
        loss = self.forward_loss()
        loss.backward()
        self.opt.step()
        self.loss = loss

    def _named(self):
        return self.params.items() if self.params is not None else self.model.named_parameters()

    def result(self):
        grads = {k: p.grad.numpy().copy() for k, p in self._named()}
        params = {k: p.detach().numpy().copy() for k, p in self._named()}
        return float(self.loss.item()), grads, params


class _NoOpt:
    def __init__(self, leaves):
        self.leaves = leaves

    def zero_grad(self):
        for t in self.leaves:
            t.grad = None

    def step(self):
        pass


class MygradImpl:
    """mygrad: parameters are mygrad tensors; loss.backward(); in-place update of p.data."""

    def __init__(self, params, forward_loss, opt, transposed=()):
        import mygrad as mg

        self.params = {k: mg.tensor(v) for k, v in params.items()}
        self.forward_loss, self.opt, self.transposed = forward_loss, opt, set(transposed)
        self.loss = None

    def step(self):
        loss = self.forward_loss(self.params)
        loss.backward()
        if self.opt is not None:
            for k, p in self.params.items():
                self.opt.update(k, p.data, p.grad)
        self.loss = loss

    def result(self):
        def tl(k, a):
            return a.T if k in self.transposed else a

        grads = {k: tl(k, np.asarray(p.grad)).copy() for k, p in self.params.items()}
        params = {k: tl(k, np.asarray(p.data)).copy() for k, p in self.params.items()}
        return float(self.loss.item()), grads, params


class AutogradImpl:
    """HIPS autograd: value_and_grad of a pure function of a dict of arrays; arrays updated by hand."""

    def __init__(self, params, loss_fn, opt, transposed=()):
        from autograd import value_and_grad

        self.params = {k: np.array(v) for k, v in params.items()}
        self.vg = value_and_grad(loss_fn)
        self.opt, self.transposed = opt, set(transposed)
        self.loss = self.grads = None

    def step(self):
        loss, grads = self.vg(self.params)
        if self.opt is not None:
            for k, p in self.params.items():
                self.opt.update(k, p, grads[k])
        self.loss, self.grads = loss, grads

    def result(self):
        def tl(k, a):
            return a.T if k in self.transposed else a

        grads = {k: tl(k, np.asarray(self.grads[k])).copy() for k in self.params}
        params = {k: tl(k, p).copy() for k, p in self.params.items()}
        return float(self.loss), grads, params


def _state_dict_np(tmodel, dt):
    return {k: v.detach().numpy().astype(dt) for k, v in tmodel.state_dict().items()}


def _ember_model(ember, tmodel, emodel, dt):
    if dt == np.float64:
        emodel.to(ember.float64)
    emodel.load_state_dict({k: ember.tensor(v) for k, v in _state_dict_np(tmodel, dt).items()})
    return emodel


def _torch_model(torch, tmodel, dt):
    return tmodel.to(torch.float64) if dt == np.float64 else tmodel


def _t(W, names):
    """Copy of the weights with the named (torch out x in) matrices stored transposed (in x out), the
    natural layout for x @ W in mygrad/autograd."""
    return {k: (v.T.copy() if k in names else v.copy()) for k, v in W.items()}


_AG_SIGMOID = None


def _autograd_sigmoid():
    """sigmoid as an autograd primitive with its VJP (one recorded op, like the other libraries)."""
    global _AG_SIGMOID
    if _AG_SIGMOID is None:
        from autograd.extend import defvjp, primitive

        @primitive
        def sigmoid(x):
            return 0.5 * (np.tanh(0.5 * x) + 1)

        defvjp(sigmoid, lambda ans, x: lambda g: g * ans * (1 - ans))
        _AG_SIGMOID = sigmoid
    return _AG_SIGMOID


def _ag_cross_entropy(logits, y):
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    n = logits.shape[0]
    return anp.mean(logsumexp(logits, axis=1) - logits[np.arange(n), y])


# ---------------------------------------------------------------------------- workloads
# each: (ember, torch, rng, libs) -> {lib: implementation} ; a library that cannot express the
# workload is given as a string saying why.


def w_chain(ember, torch, rng, libs, dt):
    xa = rng.standard_normal((32, 32)).astype(dt)
    ya = rng.standard_normal((32, 32)).astype(dt)
    out = {}
    if "ember" in libs:
        ex, ey = ember.tensor(xa, requires_grad=True), ember.tensor(ya)
        out["ember"] = EmberTorchImpl(None, lambda: chain(ex, ey), _NoOpt([ex]), params={"x": ex})
    if "torch" in libs:
        tx, ty = torch.tensor(xa, requires_grad=True), torch.tensor(ya)
        out["torch"] = EmberTorchImpl(None, lambda: chain(tx, ty), _NoOpt([tx]), params={"x": tx})
    if "mygrad" in libs:
        import mygrad as mg
        from mygrad.nnet import relu, sigmoid

        c101, half = dt(1.01), dt(0.5)  # a Python float would promote mygrad's result to float64

        def mg_chain(P):
            x = P["x"]
            for _ in range(N_OPS // 8):
                x = x * c101
                x = x + ya
                x = mg.tanh(x)
                x = sigmoid(x)
                x = x * ya
                x = x - half
                x = mg.sin(x)
                x = relu(x)
            return mg.sum(x)

        out["mygrad"] = MygradImpl({"x": xa}, mg_chain, None)
    if "autograd" in libs:
        import autograd.numpy as anp

        sig = _autograd_sigmoid()

        def ag_chain(P):
            x = P["x"]
            for _ in range(N_OPS // 8):
                x = x * 1.01
                x = x + ya
                x = anp.tanh(x)
                x = sig(x)
                x = x * ya
                x = x - 0.5
                x = anp.sin(x)
                x = anp.maximum(x, 0.0)
            return anp.sum(x)

        out["autograd"] = AutogradImpl({"x": xa}, ag_chain, None)
    return out


def w_mlp(ember, torch, rng, libs, dt):
    tnn = torch.nn
    tm = tnn.Sequential(tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 256), tnn.ReLU(), tnn.Linear(256, 10))
    tm = _torch_model(torch, tm, dt)
    W = _state_dict_np(tm, dt)
    x = rng.standard_normal((128, 784)).astype(dt)
    y = rng.integers(0, 10, 128)
    lin = ("0.weight", "2.weight", "4.weight")
    out = {}
    if "ember" in libs:
        import ember.nn as enn
        import ember.nn.functional as EF

        em = _ember_model(ember, tm, enn.Sequential(enn.Linear(784, 512), enn.ReLU(), enn.Linear(512, 256),
                                                    enn.ReLU(), enn.Linear(256, 10)), dt)
        ex, ey = ember.tensor(x), ember.tensor(y)
        out["ember"] = EmberTorchImpl(em, lambda: EF.cross_entropy(em(ex), ey),
                                      ember.optim.SGD(em.parameters(), lr=0.01, momentum=0.9))
    if "torch" in libs:
        tx, ty = torch.tensor(x), torch.tensor(y)
        out["torch"] = EmberTorchImpl(tm, lambda: torch.nn.functional.cross_entropy(tm(tx), ty),
                                      torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9))
    if "mygrad" in libs:
        from mygrad.nnet import relu, softmax_crossentropy

        def mg_loss(P):
            h = relu(x @ P["0.weight"] + P["0.bias"])
            h = relu(h @ P["2.weight"] + P["2.bias"])
            return softmax_crossentropy(h @ P["4.weight"] + P["4.bias"], y)

        out["mygrad"] = MygradImpl(_t(W, lin), mg_loss, NumpySGD(0.01, 0.9), lin)
    if "autograd" in libs:
        import autograd.numpy as anp

        def ag_loss(P):
            h = anp.maximum(anp.dot(x, P["0.weight"]) + P["0.bias"], 0.0)
            h = anp.maximum(anp.dot(h, P["2.weight"]) + P["2.bias"], 0.0)
            return _ag_cross_entropy(anp.dot(h, P["4.weight"]) + P["4.bias"], y)

        out["autograd"] = AutogradImpl(_t(W, lin), ag_loss, NumpySGD(0.01, 0.9), lin)
    return out


def _cnn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1024, 10),
    )


def w_cnn(ember, torch, rng, libs, dt):
    tm = _torch_model(torch, _cnn(torch.nn), dt)
    W = _state_dict_np(tm, dt)
    x = rng.standard_normal((64, 1, 28, 28)).astype(dt)
    y = rng.integers(0, 10, 64)
    lin = ("7.weight",)
    out = {}
    if "ember" in libs:
        import ember.nn as enn
        import ember.nn.functional as EF

        em = _ember_model(ember, tm, _cnn(enn), dt)
        ex, ey = ember.tensor(x), ember.tensor(y)
        out["ember"] = EmberTorchImpl(em, lambda: EF.cross_entropy(em(ex), ey),
                                      ember.optim.SGD(em.parameters(), lr=0.01))
    if "torch" in libs:
        tx, ty = torch.tensor(x), torch.tensor(y)
        out["torch"] = EmberTorchImpl(tm, lambda: torch.nn.functional.cross_entropy(tm(tx), ty),
                                      torch.optim.SGD(tm.parameters(), lr=0.01))
    if "mygrad" in libs:
        from mygrad.nnet import conv_nd, max_pool, relu, softmax_crossentropy

        def mg_loss(P):
            h = conv_nd(x, P["0.weight"], stride=1) + P["0.bias"][:, None, None]
            h = max_pool(relu(h), (2, 2), 2)
            h = conv_nd(h, P["3.weight"], stride=1) + P["3.bias"][:, None, None]
            h = max_pool(relu(h), (2, 2), 2)
            return softmax_crossentropy(h.reshape(h.shape[0], -1) @ P["7.weight"] + P["7.bias"], y)

        out["mygrad"] = MygradImpl(_t(W, lin), mg_loss, NumpySGD(0.01), lin)
    if "autograd" in libs:
        import autograd.numpy as anp
        from autograd.scipy.signal import convolve

        def conv(h, w, b):  # torch's conv is a cross-correlation: flip the kernel for convolve
            out = convolve(h, w[:, :, ::-1, ::-1], axes=([2, 3], [2, 3]), dot_axes=([1], [1]), mode="valid")
            return out + b[None, :, None, None]

        def pool(h):  # 2x2 max-pool as in autograd's convnet example
            n, c, hh, ww = h.shape
            return anp.max(anp.max(h.reshape(n, c, hh // 2, 2, ww // 2, 2), axis=3), axis=4)

        def ag_loss(P):
            h = pool(anp.maximum(conv(x, P["0.weight"], P["0.bias"]), 0.0))
            h = pool(anp.maximum(conv(h, P["3.weight"], P["3.bias"]), 0.0))
            return _ag_cross_entropy(anp.dot(anp.reshape(h, (h.shape[0], -1)), P["7.weight"]) + P["7.bias"], y)

        out["autograd"] = AutogradImpl(_t(W, lin), ag_loss, NumpySGD(0.01), lin)
    return out


def w_lstm(ember, torch, rng, libs, dt, vocab=65, hidden=128, steps=32, batch=32):
    """Character model: embedding -> LSTM cell unrolled over 32 steps in a Python loop -> linear -> CE, Adam."""

    def build(nn, Cell):
        m = nn.Module()
        m.emb = nn.Embedding(vocab, hidden)
        m.cell = Cell(hidden, hidden)
        m.head = nn.Linear(hidden, vocab)
        return m

    tm = _torch_model(torch, build(torch.nn, torch.nn.LSTMCell), dt)
    W = _state_dict_np(tm, dt)
    seq = rng.integers(0, vocab, (batch, steps + 1))
    inp = seq[:, :-1]
    tgt = np.ascontiguousarray(seq[:, 1:].T).reshape(-1)  # time-major, like the concatenated outputs
    lin = ("cell.weight_ih", "cell.weight_hh", "head.weight")
    H = hidden
    out = {}

    def run_module(m, x_ids, y, cat, CE, zeros):
        x = m.emb(x_ids)
        h = c = zeros
        outs = []
        for t in range(steps):
            h, c = m.cell(x[:, t], (h, c))
            outs.append(h)
        return CE(m.head(cat(outs, 0)), y)

    if "ember" in libs:
        import ember.nn as enn
        import ember.nn.functional as EF

        em = _ember_model(ember, tm, build(enn, enn.LSTMCell), dt)
        ez = ember.zeros(batch, hidden, dtype=ember.float64 if dt == np.float64 else ember.float32)
        e_in, e_tgt = ember.tensor(inp), ember.tensor(tgt)
        out["ember"] = EmberTorchImpl(em, lambda: run_module(em, e_in, e_tgt, ember.cat, EF.cross_entropy, ez),
                                      ember.optim.Adam(em.parameters(), lr=1e-3))
    if "torch" in libs:
        t_in, t_tgt = torch.tensor(inp), torch.tensor(tgt)
        tz = torch.zeros(batch, hidden, dtype=torch.float64 if dt == np.float64 else torch.float32)
        out["torch"] = EmberTorchImpl(
            tm, lambda: run_module(tm, t_in, t_tgt, torch.cat, torch.nn.functional.cross_entropy, tz),
            torch.optim.Adam(tm.parameters(), lr=1e-3))
    zeros = np.zeros((batch, hidden), dt)
    if "mygrad" in libs:
        import mygrad as mg
        from mygrad.nnet import sigmoid, softmax_crossentropy

        def mg_loss(P):
            x = P["emb.weight"][inp]
            Wih, Whh, bih, bhh = P["cell.weight_ih"], P["cell.weight_hh"], P["cell.bias_ih"], P["cell.bias_hh"]
            h = c = zeros
            outs = []
            for t in range(steps):
                gates = x[:, t] @ Wih + bih + h @ Whh + bhh
                i, f = sigmoid(gates[:, :H]), sigmoid(gates[:, H:2 * H])
                g, o = mg.tanh(gates[:, 2 * H:3 * H]), sigmoid(gates[:, 3 * H:])
                c = f * c + i * g
                h = o * mg.tanh(c)
                outs.append(h)
            return softmax_crossentropy(mg.concatenate(outs, axis=0) @ P["head.weight"] + P["head.bias"], tgt)

        out["mygrad"] = MygradImpl(_t(W, lin), mg_loss, NumpyAdam(1e-3), lin)
    if "autograd" in libs:
        import autograd.numpy as anp

        sig = _autograd_sigmoid()

        def ag_loss(P):
            x = P["emb.weight"][inp]
            Wih, Whh, bih, bhh = P["cell.weight_ih"], P["cell.weight_hh"], P["cell.bias_ih"], P["cell.bias_hh"]
            h = c = zeros
            outs = []
            for t in range(steps):
                gates = anp.dot(x[:, t], Wih) + bih + anp.dot(h, Whh) + bhh
                i, f = sig(gates[:, :H]), sig(gates[:, H:2 * H])
                g, o = anp.tanh(gates[:, 2 * H:3 * H]), sig(gates[:, 3 * H:])
                c = f * c + i * g
                h = o * anp.tanh(c)
                outs.append(h)
            return _ag_cross_entropy(anp.dot(anp.concatenate(outs, axis=0), P["head.weight"]) + P["head.bias"], tgt)

        out["autograd"] = AutogradImpl(_t(W, lin), ag_loss, NumpyAdam(1e-3), lin)
    return out


def w_transformer(ember, torch, rng, libs, dt, d=128, heads=4, seq=64, batch=16, vocab=100, layers=2):
    """2 post-norm encoder layers (ReLU feed-forward 4d, no dropout), embedding and head; AdamW."""

    def build(nn, Layer, Enc):
        m = nn.Module()
        m.emb = nn.Embedding(vocab, d)
        kw = {"dim_feedforward": 4 * d, "batch_first": True, "dropout": 0.0}
        extra = {"enable_nested_tensor": False} if Enc is torch.nn.TransformerEncoder else {}
        m.enc = Enc(Layer(d, heads, **kw), layers, **extra)
        m.head = nn.Linear(d, vocab)
        return m

    tm = _torch_model(torch, build(torch.nn, torch.nn.TransformerEncoderLayer, torch.nn.TransformerEncoder), dt)
    W = _state_dict_np(tm, dt)
    ids = rng.integers(0, vocab, (batch, seq))
    y = rng.integers(0, vocab, batch * seq)
    pre = [f"enc.layers.{i}." for i in range(layers)]
    lin = ["head.weight"] + [p + n for p in pre for n in ("self_attn.in_proj_weight", "self_attn.out_proj.weight",
                                                        "linear1.weight", "linear2.weight")]
    dh = d // heads
    scale = dt(1 / math.sqrt(dh))  # typed scalars: a Python float would promote mygrad to float64
    eps = dt(1e-5)
    out = {}

    if "ember" in libs:
        import ember.nn as enn
        import ember.nn.functional as EF

        em = _ember_model(ember, tm, build(enn, enn.TransformerEncoderLayer, enn.TransformerEncoder), dt)
        e_ids, e_y = ember.tensor(ids), ember.tensor(y)
        out["ember"] = EmberTorchImpl(
            em, lambda: EF.cross_entropy(em.head(em.enc(em.emb(e_ids))).reshape(-1, vocab), e_y),
            ember.optim.AdamW(em.parameters(), lr=1e-3))
    if "torch" in libs:
        t_ids, t_y = torch.tensor(ids), torch.tensor(y)
        out["torch"] = EmberTorchImpl(
            tm, lambda: torch.nn.functional.cross_entropy(tm.head(tm.enc(tm.emb(t_ids))).reshape(-1, vocab), t_y),
            torch.optim.AdamW(tm.parameters(), lr=1e-3))

    def encoder(P, x, ns, softmax, relu, mean, var, sqrt):
        """The encoder written once over a library namespace: ns.matmul etc. are that library's ops."""
        B, S, D = x.shape

        def split(t):
            return ns.transpose(ns.reshape(t, (B, S, heads, dh)), (0, 2, 1, 3))

        def norm(t, p):
            mu = mean(t, axis=-1, keepdims=True)
            return (t - mu) / sqrt(var(t, axis=-1, keepdims=True) + eps) * P[p + ".weight"] + P[p + ".bias"]

        for p in pre:
            qkv = ns.matmul(x, P[p + "self_attn.in_proj_weight"]) + P[p + "self_attn.in_proj_bias"]
            q, k, v = split(qkv[..., :D]), split(qkv[..., D:2 * D]), split(qkv[..., 2 * D:])
            att = softmax(ns.matmul(q * scale, ns.transpose(k, (0, 1, 3, 2))))
            a = ns.reshape(ns.transpose(ns.matmul(att, v), (0, 2, 1, 3)), (B, S, D))
            a = ns.matmul(a, P[p + "self_attn.out_proj.weight"]) + P[p + "self_attn.out_proj.bias"]
            x = norm(x + a, p + "norm1")
            f = ns.matmul(relu(ns.matmul(x, P[p + "linear1.weight"]) + P[p + "linear1.bias"]), P[p + "linear2.weight"])
            x = norm(x + f + P[p + "linear2.bias"], p + "norm2")
        return ns.matmul(x, P["head.weight"]) + P["head.bias"]

    if "mygrad" in libs:
        import mygrad as mg
        from mygrad.nnet import relu, softmax, softmax_crossentropy

        def mg_loss(P):
            logits = encoder(P, P["emb.weight"][ids], mg, lambda t: softmax(t, axis=-1), relu, mg.mean, mg.var, mg.sqrt)
            return softmax_crossentropy(logits.reshape(-1, vocab), y)

        out["mygrad"] = MygradImpl(_t(W, lin), mg_loss, NumpyAdam(1e-3, decoupled_wd=0.01), lin)
    if "autograd" in libs:
        import autograd.numpy as anp
        from autograd.scipy.special import logsumexp

        def ag_softmax(t):
            return anp.exp(t - logsumexp(t, axis=-1, keepdims=True))

        def ag_loss(P):
            logits = encoder(P, P["emb.weight"][ids], anp, ag_softmax, lambda t: anp.maximum(t, 0.0),
                             anp.mean, anp.var, anp.sqrt)
            return _ag_cross_entropy(anp.reshape(logits, (-1, vocab)), y)

        out["autograd"] = AutogradImpl(_t(W, lin), ag_loss, NumpyAdam(1e-3, decoupled_wd=0.01), lin)
    return out


WORKLOADS = {"chain": w_chain, "mlp": w_mlp, "cnn": w_cnn, "lstm": w_lstm, "transformer": w_transformer}
TITLES = {
    "chain": f"{N_OPS}-op elementwise chain 32x32 fwd+bwd",
    "mlp": "MLP step 784-512-256-10, b128, SGD mom.",
    "cnn": "CNN step 2x conv5+pool, 64x1x28x28, SGD",
    "lstm": "LSTM char step h128, 32 steps, b32, Adam",
    "transformer": "Transformer 2L d128 h4 seq64 b16, AdamW",
}
# (repeats, warmup) for full runs; --quick uses about a quarter
REPEATS = {"chain": (40, 3), "mlp": (20, 2), "cnn": (10, 2), "lstm": (20, 2), "transformer": (15, 2)}


# ---------------------------------------------------------------------------- checking and timing


def check_against_ember(name, impls, rtol, atol_rel, loss_only=False):
    """First step of every library: loss, gradients and updated parameters must match ember's."""
    ref_loss, ref_g, ref_p = impls["ember"].result()
    for lib, impl in impls.items():
        if lib == "ember":
            continue
        loss, g, p = impl.result()
        np.testing.assert_allclose(loss, ref_loss, rtol=rtol, err_msg=f"{name}: {lib} loss differs from ember's")
        if loss_only:
            continue
        assert set(g) == set(ref_g), f"{name}: {lib} has parameters {sorted(g)}, ember {sorted(ref_g)}"
        for k in ref_g:
            for what, got, ref in (("gradient", g[k], ref_g[k]), ("updated parameter", p[k], ref_p[k])):
                assert got.shape == ref.shape and got.dtype == ref.dtype, \
                    f"{name}: {lib} {what} {k!r} is {got.dtype}{got.shape}, ember's {ref.dtype}{ref.shape}"
                np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol_rel * float(np.max(np.abs(ref))) + 1e-12,
                                           err_msg=f"{name}: {lib} {what} {k!r} differs from ember's")


def measure(steps, repeats, warmup):
    """Round-robin over the libraries; returns {lib: (median, min)} seconds per step."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in steps}
    for _ in range(repeats):
        for k, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


def _fmt(sec):
    return f"{sec * 1e3:9.2f} ms" if sec >= 1e-3 else f"{sec * 1e6:9.1f} us"


def available_others(requested):
    have, missing = [], []
    for lib in requested:
        if lib not in OTHERS:
            continue
        try:
            importlib.import_module(lib)
            have.append(lib)
        except ImportError:
            missing.append(lib)
    if missing:
        print(f"(skipping {', '.join(missing)}: not installed; install with  {INSTALL_HINT})")
    return have


def build(ember, torch, name, libs, dt):
    rng = np.random.default_rng(0)
    ember.manual_seed(0)
    torch.manual_seed(0)
    return WORKLOADS[name](ember, torch, rng, libs, dt)


def main(argv):
    import ember

    quick = "--quick" in argv
    only = argv[argv.index("--only") + 1].split(",") if "--only" in argv else list(WORKLOADS)
    requested = argv[argv.index("--libs") + 1].split(",") if "--libs" in argv else list(ALL_LIBS)
    unknown = [w for w in only if w not in WORKLOADS] + [lib for lib in requested if lib not in ALL_LIBS]
    if unknown:
        raise SystemExit(f"bench_others: unknown workload/library {unknown}; workloads {list(WORKLOADS)}, "
                         f"libraries {list(ALL_LIBS)}")
    profile = argv[argv.index("--profile") + 1] if "--profile" in argv else None
    threads = int(argv[argv.index("--threads") + 1]) if "--threads" in argv else None
    torch = torch_threads(threads)
    libs = ["ember"] + (["torch"] if "torch" in requested else []) + available_others(requested)
    if not [lib for lib in libs if lib in OTHERS]:
        print("(no library to compare with: nothing to do)")
        return {}

    summary = {}
    for name in only:
        # the check runs in float64, where float32 rounding cannot flip a max-pool's argmax between
        # libraries: loss, every gradient and every updated parameter of step 1 equal ember's
        impls = build(ember, torch, name, libs, np.float64)
        for impl in impls.values():
            impl.step()
        check_against_ember(name, impls, rtol=1e-6, atol_rel=1e-9)
        # the timed run, in float32: same code, same weights; its first loss is checked too
        impls = build(ember, torch, name, libs, np.float32)
        for impl in impls.values():
            impl.step()
        check_against_ember(name, impls, rtol=1e-4, atol_rel=0, loss_only=True)
        if profile == name:
            import cProfile
            import pstats

            cProfile.runctx("for _ in range(10): step()", globals(), {"step": impls["ember"].step},
                            "/tmp/bench_others.prof")
            pstats.Stats("/tmp/bench_others.prof").sort_stats("tottime").print_stats(25)
        reps, warm = REPEATS[name]
        if quick:
            reps, warm = max(3, reps // 4), 1
        res = measure({lib: impl.step for lib, impl in impls.items()}, reps, warm)
        base, base_min = res["ember"]
        print(f"== {TITLES[name]}   (step 1 loss/grads/update equal ember's: checked)")
        print(f"   {'library':<10} {'median':>12} {'min':>12}   lib/ember: median   min")
        summary[name] = {}
        for lib in libs:
            if lib not in res:
                print(f"   {lib:<10} cannot run: the library has no operation for this workload")
                summary[name][lib] = None
                continue
            med, mn = res[lib]
            summary[name][lib] = (med / base, mn / base_min)
            print(f"   {lib:<10} {_fmt(med)} {_fmt(mn)}   {med / base:14.2f}x {mn / base_min:5.2f}x")
        sys.stdout.flush()

    print("\nratio library/ember, median (min); > 1: ember is faster")
    print(f"   {'workload':<12}" + "".join(f"{lib:>16}" for lib in libs if lib != "ember") + f"   ember faster than {'+'.join(lib for lib in libs if lib in OTHERS)}?")
    for name, row in summary.items():
        cells, slower = "", []
        for lib in libs:
            if lib == "ember":
                continue
            r = row.get(lib)
            cells += f"{'n/a':>16}" if r is None else f"{r[0]:8.2f}x ({r[1]:4.2f}x)"
            if r is not None and lib in OTHERS and r[0] < 1:
                slower.append(lib)
        verdict = "yes" if not slower else f"NO (slower than {', '.join(slower)})"
        print(f"   {name:<12}{cells}   {verdict}")
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
