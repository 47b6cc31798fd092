"""torch's small modules and leftovers of the torch namespace, against torch: ``ember.random``, ``ember.version``,
``ember.functional``, ``ember.cpu``, ``ember.signal.windows``, ``frombuffer``, DLPack, ``is_inference_mode_enabled``,
``feature_dropout``, ``torch.ctc_loss`` / ``torch.embedding_bag`` (ATen's positional forms), ``Tensor.prelu``."""
from __future__ import annotations

import array
import inspect
import warnings

import numpy as np
import pytest
import torch

import ember
from _helpers import check


def _sig(f):
    """Parameter names, kinds and defaults (library prefixes dropped)."""
    return [(p.name, p.kind, str(p.default).replace("torch.", "").replace("ember.", ""))
            for p in inspect.signature(f).parameters.values()]


# ------------------------------------------------------------------ ember.random


def test_random_module_functions_are_the_default_generators():
    import ember.random as R

    for n in ("manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state"):
        assert getattr(R, n) is getattr(ember, n)
        assert list(inspect.signature(getattr(R, n)).parameters) == list(
            inspect.signature(getattr(torch.random, n)).parameters)
    assert list(inspect.signature(R.fork_rng).parameters) == list(inspect.signature(torch.random.fork_rng).parameters)
    assert R.default_generator is ember.default_generator
    R.manual_seed(123)
    assert R.initial_seed() == 123


def test_fork_rng_restores_the_stream():
    ember.manual_seed(5)
    with ember.random.fork_rng():
        inside = ember.rand(4)
    after = ember.rand(4)
    ember.manual_seed(5)
    first = ember.rand(4)
    assert np.array_equal(after.numpy(), first.numpy()) and np.array_equal(inside.numpy(), first.numpy())
    ember.manual_seed(5)
    with ember.random.fork_rng(enabled=False):
        ember.rand(4)
    assert not np.array_equal(ember.rand(4).numpy(), first.numpy())
    # restored even when the block raises
    ember.manual_seed(5)
    with pytest.raises(ZeroDivisionError), ember.random.fork_rng(devices=[]):
        ember.rand(3)
        1 / 0  # noqa: B018
    assert np.array_equal(ember.rand(4).numpy(), first.numpy())


def test_fork_rng_bad_device_type():
    with pytest.raises(RuntimeError, match="fork_rng: ember has no device module for device_type='xpu'"):
        with ember.random.fork_rng(device_type="xpu"):
            pass
    if not ember.cuda.is_available():
        with pytest.raises(RuntimeError, match=r"devices=\[0\] names CUDA devices, but CUDA is not available"):
            with ember.random.fork_rng(devices=[0]):
                pass


# ------------------------------------------------------------------ version, functional, cpu


def test_version_module_is_truthful():
    import ember.version as V

    assert V.__version__ == ember.__version__
    assert V.cuda is None and V.hip is None and V.debug is False and isinstance(V.git_version, str)
    assert set(n for n in dir(torch.version) if not n.startswith("_") and n != "Optional") <= set(dir(V))


def test_functional_module_reexports():
    import ember.functional as EF

    for n in torch.functional.__all__:
        if hasattr(ember, n):
            assert getattr(EF, n) is getattr(ember, n)
            assert n in EF.__all__
        else:  # owned by a missing feature: the same clear error as ember.<name>
            with pytest.raises(NotImplementedError, match=n):
                getattr(EF, n)
    assert EF.einsum("ij->j", ember.ones(2, 3)).tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(AttributeError):
        EF.no_such_function  # noqa: B018


def test_cpu_module():
    for n in torch.cpu.__all__:
        assert hasattr(ember.cpu, n), n
        f, g = getattr(ember.cpu, n), getattr(torch.cpu, n)
        if callable(g) and not isinstance(g, type):
            assert list(inspect.signature(f).parameters) == list(inspect.signature(g).parameters), n
    assert ember.cpu.is_available() is True and ember.cpu.device_count() == torch.cpu.device_count() == 1
    assert ember.cpu.current_device() == torch.cpu.current_device() == "cpu"
    ember.cpu.synchronize()
    ember.cpu.synchronize("cpu")
    ember.cpu.set_device(ember.device("cpu"))
    s = ember.cpu.Stream()
    with ember.cpu.stream(s):
        assert ember.cpu.current_stream() is s
    assert ember.cpu.current_stream() is not s
    assert ember.cpu.get_capabilities()["num_logical_cores"] >= 1
    with pytest.raises(ValueError, match="ember.cpu.synchronize: expected a CPU device, got 'cuda:0'"):
        ember.cpu.synchronize("cuda:0")
    with pytest.raises(ValueError, match="ember.cpu.set_device: the CPU device has index 0, got 2"):
        ember.cpu.set_device(2)


# ------------------------------------------------------------------ signal.windows

_WINDOWS = ["bartlett", "blackman", "cosine", "exponential", "gaussian", "general_cosine", "general_hamming",
            "hamming", "hann", "kaiser", "nuttall"]


@pytest.mark.parametrize("name", _WINDOWS)
def test_windows_match_torch(name):
    ew, tw = getattr(ember.signal.windows, name), getattr(torch.signal.windows, name)
    assert _sig(ew) == _sig(tw)
    extra = [{}]
    extra += {"exponential": [{"tau": 2.5}, {"center": 1.0, "sym": False}], "gaussian": [{"std": 0.7}],
              "kaiser": [{"beta": 3.0}], "general_hamming": [{"alpha": 0.6}]}.get(name, [])
    for kw in extra:
        if name == "general_cosine":
            kw = {"a": [0.46, 0.3, 0.24]}
        for M in (0, 1, 2, 5, 8):
            for sym in ((False,) if "center" in kw else (True, False)):  # center= needs sym=False
                for dt in ("float32", "float64"):
                    kws = {"sym": sym} | kw
                    e = ew(M, dtype=getattr(ember, dt), **kws)
                    t = tw(M, dtype=getattr(torch, dt), **kws)
                    assert e.dtype == getattr(ember, dt) and tuple(e.shape) == tuple(t.shape)
                    tol = 1e-6 if dt == "float32" else 1e-13
                    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=tol, atol=tol)
    assert ew(4, **({"a": [1.0]} if name == "general_cosine" else {})).dtype == ember.get_default_dtype()


def test_windows_requires_grad_and_errors():
    w = ember.signal.windows.hann(6, requires_grad=True, dtype=ember.float64)
    t = torch.signal.windows.hann(6, requires_grad=True, dtype=torch.float64)
    assert w.requires_grad == t.requires_grad
    hw = ember.signal.windows
    with pytest.raises(ValueError, match="hann requires non-negative window length, got M=-1"):
        hw.hann(-1)
    with pytest.raises(ValueError, match="expects float32 or float64 dtypes, got: ember.int64"):
        hw.kaiser(3, dtype=ember.int64)
    with pytest.raises(ValueError, match="gaussian: standard deviation must be positive, got: 0"):
        hw.gaussian(3, std=0)
    with pytest.raises(ValueError, match="exponential: center must be None for symmetric windows"):
        hw.exponential(3, center=1.0)
    with pytest.raises(ValueError, match="tau must be positive"):
        hw.exponential(3, tau=-1.0)
    with pytest.raises(ValueError, match="kaiser: beta must be non-negative"):
        hw.kaiser(3, beta=-1.0)
    with pytest.raises(ValueError, match="general_cosine: coefficients a cannot be empty"):
        hw.general_cosine(3, a=[])
    with pytest.raises(TypeError, match="the window length M must be an int, got float 3.5"):
        hw.hann(3.5)


# ------------------------------------------------------------------ frombuffer, dlpack, inference mode


def test_frombuffer_shares_memory_and_matches_torch():
    b = bytearray(np.arange(6, dtype=np.float32).tobytes())
    for kw in ({}, {"count": 3, "offset": 4}, {"offset": 8}):
        e = ember.frombuffer(b, dtype=ember.float32, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = torch.frombuffer(b, dtype=torch.float32, **kw)
        assert e.tolist() == t.tolist()
    e = ember.frombuffer(b, dtype=ember.float32, count=2, offset=4)
    e[0] = 100.0
    assert np.frombuffer(b, np.float32)[1] == 100.0  # shares the buffer, as torch
    a = ember.frombuffer(array.array("i", [1, 2, 3]), dtype=ember.int32)
    assert a.dtype == ember.int32 and a.tolist() == [1, 2, 3]
    assert ember.frombuffer(bytearray(8), dtype=ember.float32, requires_grad=True).requires_grad
    assert list(inspect.signature(ember.frombuffer).parameters) == ["buffer", "dtype", "count", "offset",
                                                                     "requires_grad"]


@pytest.mark.parametrize("kw,msg", [
    (dict(buffer=b"abcdefg", dtype=ember.int32), r"buffer length \(7 bytes\) after offset \(0 bytes\) must be a multiple"),
    (dict(buffer=bytearray(8), dtype=ember.int32, count=3), r"requested buffer length \(3 \* 4 bytes\)"),
    (dict(buffer=bytearray(8), dtype=ember.int32, offset=9), r"offset \(9 bytes\) must be non-negative"),
    (dict(buffer=bytearray(0), dtype=ember.int32), r"both buffer length \(0\) and count \(-1\) must not be 0"),
])
def test_frombuffer_errors(kw, msg):
    with pytest.raises(ValueError, match="frombuffer: " + msg):
        ember.frombuffer(**kw)
    with pytest.raises(TypeError, match="frombuffer: expected an object implementing the buffer protocol"):
        ember.frombuffer([1, 2], dtype=ember.int32)


def test_dlpack_round_trips():
    import ember.utils.dlpack as ED

    x = ember.arange(5.0)
    y = ember.from_dlpack(ember.to_dlpack(x))
    assert np.shares_memory(x.numpy(), y.numpy()) and y.tolist() == x.tolist()
    assert ED.to_dlpack is ember.to_dlpack and ED.from_dlpack is ember.from_dlpack
    assert ED.DLDeviceType.kDLCPU == torch.utils.dlpack.DLDeviceType.kDLCPU == x.__dlpack_device__()[0]
    t = torch.from_dlpack(ember.to_dlpack(x))  # ember -> torch, capsule
    assert t.tolist() == x.tolist()
    assert torch.from_dlpack(x).tolist() == x.tolist()  # ember tensor through __dlpack__
    tt = torch.arange(3.0)
    e = ember.from_dlpack(tt)  # torch -> ember, shares memory
    tt[0] = 7.0
    assert e.tolist() == [7.0, 1.0, 2.0]
    c = ember.from_dlpack(np.arange(3.0), copy=True)
    assert c.tolist() == [0.0, 1.0, 2.0]
    assert list(inspect.signature(ember.from_dlpack).parameters) == ["ext_tensor", "device", "copy"]


def test_dlpack_errors():
    x = ember.arange(3.0)
    cap = ember.to_dlpack(x)
    ember.from_dlpack(cap)
    with pytest.raises(RuntimeError, match="from_dlpack: could not import PyCapsule .*consumed only once"):
        ember.from_dlpack(cap)
    with pytest.raises(TypeError, match="from_dlpack: expected an object with __dlpack__"):
        ember.from_dlpack([1, 2])
    with pytest.raises(NotImplementedError, match="from_dlpack\\(device='cuda'\\): ember imports DLPack data on the CPU"):
        ember.from_dlpack(np.arange(2), device="cuda")
    with pytest.raises(TypeError, match="to_dlpack: expected an ember Tensor, got list"):
        ember.to_dlpack([1])
    with pytest.raises(RuntimeError, match="Can't export tensors that require gradient"):
        ember.ones(2, requires_grad=True).__dlpack__()


def test_is_inference_mode_enabled_matches_torch():
    def probe(L):
        out = [L.is_inference_mode_enabled()]
        with L.inference_mode():
            out += [L.is_inference_mode_enabled(), L.is_grad_enabled()]
            with L.inference_mode(False):
                out += [L.is_inference_mode_enabled(), L.is_grad_enabled()]
            out += [L.is_inference_mode_enabled()]
        with L.no_grad():
            out += [L.is_inference_mode_enabled()]
            with L.inference_mode(False):
                out += [L.is_grad_enabled()]
        out += [L.is_inference_mode_enabled(), L.is_grad_enabled()]
        return out

    assert probe(ember) == probe(torch)


# ------------------------------------------------------------------ feature_dropout, ATen forms, prelu


def test_feature_dropout():
    x = ember.ones(40, 30, 2)
    ember.manual_seed(0)
    y = ember.feature_dropout(x, 0.25, True)
    per_channel = y.numpy()[:, :, 0]
    assert np.array_equal(per_channel, y.numpy()[:, :, 1])  # one draw per (N, C)
    assert set(np.unique(per_channel)) == {0.0, np.float32(1 / 0.75)}
    assert 0.15 < (per_channel == 0).mean() < 0.35
    assert ember.feature_dropout(x, 0.25, False) is x
    assert ember.feature_dropout(x, 1.0, True).abs().sum().item() == 0
    z = ember.ones(4, 5)
    r = ember.feature_dropout_(z, 0.5, True)
    assert r is z and set(np.unique(z.numpy())) <= {0.0, 2.0}
    w = ember.ones(3, 4, requires_grad=True)
    ember.feature_dropout(w, 0.5, True).sum().backward()
    assert set(np.unique(w.grad.numpy())) <= {0.0, 2.0}
    with pytest.raises(RuntimeError, match="feature_dropout: expected an input with at least 2 dimensions"):
        ember.feature_dropout(ember.ones(3), 0.5, True)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        ember.feature_dropout(x, 1.5, True)


def test_torch_ctc_loss_positional_form():
    rng = np.random.default_rng(0)
    lp = rng.normal(size=(6, 2, 5))
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    tg = np.array([[1, 2, 2], [3, 1, 0]])

    def f(L, lp, red):
        return L.ctc_loss(lp, L.tensor(tg), [6, 5], [3, 2], 0, red, False)

    for red in (0, 1, 2):
        # no gradcheck: ctc's gradient (torch's formula) assumes normalised log_probs, which a perturbation breaks
        check(lambda L, a, red=red: f(L, a, red), lp, gradcheck=False, gradgrad=False,
              dtypes=("float32", "float64") if red == 1 else ("float64",))
    with pytest.raises(ValueError, match="torch.ctc_loss: reduction is ATen's integer code 0 \\(none\\), 1 \\(mean\\)"):
        ember.ctc_loss(ember.tensor(lp), ember.tensor(tg), [6, 5], [3, 2], 0, "mean")


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_torch_embedding_bag_positional_form(dt):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(10, 3))
    idx = np.array([1, 2, 4, 5, 4, 3, 2, 9])
    for off, ilo in (([0, 4, 4], False), ([0, 4, 8], True), ([0, 2, 4, 8], True)):
        for mode in (0, 1, 2):
            for pad in (None, 4, -6):
                for psw in ((None, rng.uniform(size=8)) if mode == 0 else (None,)):
                    outs = []
                    for L in (ember, torch):
                        W = L.tensor(w, dtype=getattr(L, dt), requires_grad=True)
                        P = None if psw is None else L.tensor(psw, dtype=getattr(L, dt), requires_grad=True)
                        o = L.embedding_bag(W, L.tensor(idx), L.tensor(off), False, mode, False, P, ilo, pad)
                        (o[0] * L.tensor(np.arange(o[0].numel()).reshape(tuple(o[0].shape)),
                                         dtype=getattr(L, dt))).sum().backward()
                        outs.append((o, W.grad, None if P is None else P.grad))
                    (eo, eg, ep), (to, tg, tp) = outs
                    for a, b in zip(eo, to):
                        assert tuple(a.shape) == tuple(b.shape), (off, ilo, mode, pad)
                        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-6)
                    np.testing.assert_allclose(eg.numpy(), tg.numpy(), rtol=1e-6, atol=1e-6)
                    if ep is not None:
                        np.testing.assert_allclose(ep.numpy(), tp.numpy(), rtol=1e-6, atol=1e-6)


def test_torch_embedding_bag_errors():
    w, i = ember.randn(5, 2), ember.tensor([0, 1])
    with pytest.raises(ValueError, match="torch.embedding_bag: mode is ATen's integer code 0 \\(sum\\)"):
        ember.embedding_bag(w, i, ember.tensor([0]), False, "sum")
    with pytest.raises(TypeError, match="torch.embedding_bag: offsets must be a 1-D int64 tensor"):
        ember.embedding_bag(w, i, None)
    with pytest.raises(ValueError, match=r"indices and offsets must be 1-D tensors, got indices \(1, 2\)"):
        ember.embedding_bag(w, i.reshape(1, 2), ember.tensor([0]))


def test_tensor_prelu():
    check(lambda L, x, w: x.prelu(w), (3, 4, 2), (4,))
    check(lambda L, x, w: x.prelu(w), (5,), (1,))


# ------------------------------------------------------------------ as_strided family, histogramdd


def test_as_strided_method_copy_and_inplace():
    check(lambda L, x: x.as_strided((2, 2), (1, 2), 1), (6,))
    check(lambda L, x: L.as_strided_copy(x, (3, 2), (1, 1)), (6,))
    for L in (torch, ember):
        x = L.arange(12.0).reshape(3, 4)
        assert L.as_strided_copy(x[1:], (2, 2), (1, 2)).tolist() == [[4.0, 6.0], [5.0, 7.0]]
    z, tz = ember.arange(6.0), torch.arange(6.0)
    assert z.as_strided_((2, 2), (1, 2), 1) is z
    tz.as_strided_((2, 2), (1, 2), 1)
    assert z.tolist() == tz.tolist() and z.stride() == tz.stride()
    z.add_(1)  # still a view of the same storage
    out = ember.empty(0)
    assert ember.as_strided_copy(ember.arange(4.0), (2,), (2,), out=out) is out and out.tolist() == [0.0, 2.0]
    with pytest.raises(RuntimeError, match="as_strided_: shape-changing in-place ops on tensors that require grad"):
        ember.ones(4, requires_grad=True).as_strided_((2,), (1,))
    with pytest.raises(RuntimeError, match=r"as_strided_copy: size \[2, 2\] and stride \[10, 2\] with storage offset 0 "
                                           r"need 13 elements, but the storage of the tensor of shape \(6,\) has 6"):
        ember.as_strided_copy(ember.ones(6), (2, 2), (10, 2))


def _scatter_both(L, geom, view, dt):
    size, stride, off = geom
    rng = np.random.default_rng(3)
    base = L.tensor(rng.normal(size=12), dtype=getattr(L, dt)).reshape(3, 4)
    # torch's backward takes only contiguous inputs (an internal assert otherwise); ember's takes views too
    x = {"plain": base, "t": base.t(), "tail": base[1:]}[view].detach().requires_grad_(view == "plain" or L is ember)
    s = L.tensor(rng.normal(size=size), dtype=getattr(L, dt), requires_grad=True)
    o = L.as_strided_scatter(x, s, size, stride, off)
    g = L.tensor(rng.normal(size=tuple(o.shape)), dtype=getattr(L, dt))
    (o * g).sum().backward()
    return o.detach().numpy(), x.grad, s.grad.numpy()


@pytest.mark.parametrize("geom", [((2, 2), (1, 2), 1), ((2, 3), (3, 1), 0), ((3,), (2,), None)])
@pytest.mark.parametrize("view", ["plain", "t", "tail"])
def test_as_strided_scatter_matches_torch(geom, view):
    # values and src's gradient as torch's; positions are in the input's storage (views included). The input's
    # gradient is checked by gradcheck: torch 2.13 returns it at the overwritten positions instead of the others
    # (torch's own gradcheck of as_strided_scatter fails)
    for dt in ("float32", "float64"):
        eo, egx, egs = _scatter_both(ember, geom, view, dt)
        to, _, tgs = _scatter_both(torch, geom, view, dt)
        np.testing.assert_allclose(eo, to, rtol=1e-6)
        if view == "plain":  # of a view, torch reads src's gradient at the wrong place (as if the view were its base)
            np.testing.assert_allclose(egs, tgs, rtol=1e-6)
    size, stride, off = geom
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    s = ember.randn(*size, dtype=ember.float64, requires_grad=True)
    v = {"plain": lambda x: x, "t": lambda x: x.t(), "tail": lambda x: x[1:]}[view]
    assert ember.autograd.gradcheck(lambda x, s: v(x).as_strided_scatter(s, size, stride, off), (x, s))
    assert ember.autograd.gradgradcheck(lambda x, s: ember.as_strided_scatter(v(x), s, size, stride, off), (x, s))


def test_as_strided_scatter_overlapping_gradient():
    # the window (2, 2) with strides (1, 1) covers storage 0, 1, 1, 2: the last write wins, so only that element
    # of src gets position 1's gradient, and the input's gradient is zero where src overwrote it
    a = ember.arange(6.0, dtype=ember.float64, requires_grad=True)
    s = ember.ones(2, 2, dtype=ember.float64, requires_grad=True)
    o = ember.as_strided_scatter(a, s, (2, 2), (1, 1))
    (o * ember.arange(6.0, dtype=ember.float64)).sum().backward()
    assert o.tolist() == [1.0, 1.0, 1.0, 3.0, 4.0, 5.0]
    assert a.grad.tolist() == [0.0, 0.0, 0.0, 3.0, 4.0, 5.0] and s.grad.tolist() == [[0.0, 0.0], [1.0, 2.0]]
    assert ember.autograd.gradcheck(lambda a, s: ember.as_strided_scatter(a, s, (2, 2), (1, 1)), (a, s))
    assert o.grad_fn.name() == "AsStridedScatterBackward0"


def test_as_strided_scatter_errors():
    x = ember.ones(3, 4)
    with pytest.raises(RuntimeError, match=r"as_strided_scatter: expected src to have a size equal to the slice of "
                                           r"self. src size = \[3, 3\], slice size = \[2, 2\]"):
        ember.as_strided_scatter(x, ember.ones(3, 3), (2, 2), (1, 2))
    with pytest.raises(RuntimeError, match="as_strided_scatter: size \\[2, 2\\] and stride \\[10, 2\\]"):
        ember.as_strided_scatter(x, ember.ones(2, 2), (2, 2), (10, 2))
    with pytest.raises(RuntimeError, match="mismatch in length of strides and shape"):
        ember.as_strided_scatter(x, ember.ones(2, 2), (2, 2), (1,))
    with pytest.raises(RuntimeError, match="expected src to have the dtype of input \\(ember.float32\\)"):
        ember.as_strided_scatter(x, ember.ones(2, 2, dtype=ember.float64), (2, 2), (1, 2))


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_histogramdd_matches_torch(dt):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    w = rng.uniform(size=40)
    cases = [dict(bins=3), dict(bins=[2, 4]), dict(bins=[2, 4], range=[-1, 1, -2, 2]), dict(bins=3, density=True),
             dict(bins=3, weight=1), dict(bins=[np.array([-3, 0, 3.0]), np.array([-1, 0, 0.5, 1])])]
    for kw in cases:
        res = []
        for L in (torch, ember):
            k = dict(kw)
            if "weight" in k:
                k["weight"] = L.tensor(w, dtype=getattr(L, dt))
            if isinstance(k["bins"], list) and isinstance(k["bins"][0], np.ndarray):
                k["bins"] = [L.tensor(b, dtype=getattr(L, dt)) for b in k["bins"]]
            res.append(L.histogramdd(L.tensor(x, dtype=getattr(L, dt)), **k))
        (th, te), (eh, ee) = res
        assert eh.dtype == getattr(ember, dt) and len(ee) == len(te) == 2
        np.testing.assert_allclose(eh.numpy(), th.numpy(), rtol=1e-6)
        for a, b in zip(ee, te):  # edges: torch's linspace may differ in the last bit
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
    # 3-D input: leading dims flattened; a constant column gets torch's widened range
    t3 = torch.histogramdd(torch.ones(2, 3, 2), 2)
    e3 = ember.histogramdd(ember.ones(2, 3, 2), 2)
    assert e3.hist.tolist() == t3.hist.tolist() and [b.tolist() for b in e3.bin_edges] == [
        b.tolist() for b in t3.bin_edges]


def test_histogramdd_errors():
    with pytest.raises(RuntimeError, match=r"histogramdd: input must have at least 2 dimensions .* got shape \(3,\)"):
        ember.histogramdd(ember.ones(3), 2)
    with pytest.raises(RuntimeError, match="histogramdd: expected 2 sequences of bin edges or bin counts"):
        ember.histogramdd(ember.ones(3, 2), [2, 2, 2])
    with pytest.raises(RuntimeError, match=r"histogramdd: range should have 4 elements"):
        ember.histogramdd(ember.ones(3, 2), 2, range=[0, 1])
    with pytest.raises(RuntimeError, match="histogramdd: weight should have the same shape as input excluding"):
        ember.histogramdd(ember.ones(3, 2), 2, weight=ember.ones(4))
    with pytest.raises(RuntimeError, match="histogramdd: input must be a floating-point tensor, got ember.int64"):
        ember.histogramdd(ember.ones(3, 2, dtype=ember.int64), 2)


# ------------------------------------------------------------------ quasirandom.SobolEngine


def _sobol_script(E, L, dim, scramble, seed, dt):
    eng = E(dim, scramble=scramble, seed=seed)
    out = [repr(eng)]
    d = getattr(L, dt)
    out.append(eng.draw(1, dtype=d).numpy())
    out.append(eng.draw(7, dtype=d).numpy())
    eng.fast_forward(5)
    out.append(eng.draw(19, dtype=d).numpy())
    eng.reset()
    eng.fast_forward(3)
    out.append(eng.draw(4, dtype=d).numpy())
    eng.reset()
    out.append(eng.draw_base2(2, dtype=d).numpy())
    out.append(eng.draw_base2(2, dtype=d).numpy())
    return out


@pytest.mark.parametrize("dim,scramble,seed", [(1, False, None), (6, False, None), (1111, False, None),
                                               (3, True, 0), (40, True, 12345), (300, True, 2**40 + 7)])
def test_sobol_engine_matches_torch_exactly(dim, scramble, seed):
    for dt in ("float32", "float64"):
        e = _sobol_script(ember.quasirandom.SobolEngine, ember, dim, scramble, seed, dt)
        t = _sobol_script(torch.quasirandom.SobolEngine, torch, dim, scramble, seed, dt)
        assert e[0] == t[0]
        for a, b in zip(e[1:], t[1:]):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_sobol_engine_default_dtype_out_and_unseeded_scramble():
    eng = ember.quasirandom.SobolEngine(2)
    assert eng.draw(3).dtype == ember.get_default_dtype()
    out = ember.empty(0)
    assert eng.draw(2, out=out) is out and tuple(out.shape) == (2, 2)
    ember.manual_seed(1)
    a = ember.quasirandom.SobolEngine(4, scramble=True).draw(8)
    ember.manual_seed(1)
    b = ember.quasirandom.SobolEngine(4, scramble=True).draw(8)
    assert np.array_equal(a.numpy(), b.numpy())  # seed=None draws from ember's default generator
    x = a.numpy()
    assert ((0 <= x) & (x < 1)).all() and len(np.unique(x[:, 0])) == 8


def test_sobol_engine_errors():
    SE = ember.quasirandom.SobolEngine
    with pytest.raises(ValueError, match=r"Supported range of dimensionality for SobolEngine is \[1, 1111\], got 0"):
        SE(0)
    with pytest.raises(ValueError, match="got 5000 \\(torch goes to 21201 with the same table; ember ships its first"):
        SE(5000)
    with pytest.raises(ValueError, match="The balance properties of Sobol' points require n to be a power of 2. 3 "
                                         "points have been previously generated"):
        e = SE(2)
        e.draw(3)
        e.draw_base2(2)
    with pytest.raises(RuntimeError, match="SobolEngine.draw: dtype must be a floating dtype, got ember.int64"):
        SE(2).draw(2, dtype=ember.int64)


# ------------------------------------------------------------------ Tensor.grad_dtype


def test_grad_dtype_matches_torch():
    def run(L):
        out = []
        x = L.ones(3, requires_grad=True)
        out.append(str(x.grad_dtype))
        x.grad_dtype = L.float64
        (x * 2).sum().backward()
        (x * 2).sum().backward()
        out += [str(x.grad.dtype), x.grad.tolist()]
        w = L.ones(2, requires_grad=True)
        w.grad_dtype = L.float16
        out.append(str(L.autograd.grad((w * 3).sum(), w)[0].dtype))
        g, = L.autograd.grad((w * w).sum(), w, create_graph=True)
        out.append(str(g.dtype))
        z = L.ones(2, requires_grad=True)
        z.grad_dtype = None
        (z * 2).sum().backward()
        out += [z.grad_dtype, str(z.grad.dtype)]
        return [o.replace("torch.", "").replace("ember.", "") if isinstance(o, str) else o for o in out]

    assert run(ember) == run(torch)


def test_grad_dtype_errors():
    x = ember.ones(2, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad_dtype can only be set on leaf tensors"):
        y.grad_dtype = ember.float64
    with pytest.raises(RuntimeError, match="grad_dtype can only be accessed on leaf tensors"):
        y.grad_dtype  # noqa: B018
    with pytest.raises(RuntimeError, match="grad_dtype must be a dtype .* or None, but got str"):
        x.grad_dtype = "float64"
