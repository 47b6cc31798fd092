"""Regressions found by running public torch example programs with ember in torch's place
(docs/differences.md, "Public example programs"): each test states the pattern the program used and
checks ember against torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


# --- x[range(n), labels] = v (a forward-forward MNIST example overlays the label this way) ---

@pytest.mark.parametrize("idx", [
    lambda: (range(4), [1, 2, 3, 4]),
    lambda: range(1, 3),
    lambda: (slice(None), range(0, 5, 2)),
    lambda: range(0),
])
def test_range_index_get_and_set(idx):
    a = np.arange(20, dtype=np.float32).reshape(4, 5)
    t, e = torch.tensor(a), ember.tensor(a)
    np.testing.assert_array_equal(e[idx()].numpy(), t[idx()].numpy())
    t[idx()] = -1.0
    e[idx()] = -1.0
    np.testing.assert_array_equal(e.numpy(), t.numpy())


def test_range_index_gradient():
    a = np.random.RandomState(0).randn(4, 5)
    res = []
    for L in (torch, ember):
        x = L.tensor(a, requires_grad=True)
        x[range(4), [0, 1, 1, 0]].pow(2).sum().backward()
        res.append(x.grad.numpy())
    np.testing.assert_allclose(res[1], res[0])


def test_range_index_out_of_bounds_names_the_index():
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 0 with size 4"):
        ember.zeros(4, 5)[range(5)]


# --- replacing a child keeps its place (a siamese example swaps resnet.conv1, then
#     rebuilds the net as Sequential(*children()[:-1])) ---

def _net(L):
    nn = L.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.w = nn.Parameter(L.zeros(2))
            self.register_buffer("b", L.zeros(1))
            self.fc = nn.Linear(4, 2)
    return Net()


def test_replacing_child_parameter_buffer_keeps_order():
    orders = []
    for L in (torch, ember):
        m = _net(L)
        m.conv1 = L.nn.Conv2d(1, 4, 3)
        m.w = L.nn.Parameter(L.ones(2))
        m.b = L.ones(1)
        orders.append(([n for n, _ in m.named_children()], list(m.state_dict()), [n for n, _ in m.named_parameters()]))
        seq = L.nn.Sequential(*list(m.children())[:-1])
        assert seq[0].in_channels == 1
    assert orders[1] == orders[0]
    assert orders[1][0] == ["conv1", "bn", "fc"]


def test_assigning_module_over_parameter_raises_as_torch():
    for L in (torch, ember):
        with pytest.raises(TypeError, match="cannot assign '.*Linear' as parameter 'w'"):
            _net(L).w = L.nn.Linear(1, 1)


def test_assigning_parameter_over_plain_attribute_registers_it():
    res = []
    for L in (torch, ember):
        m = _net(L)
        m.extra = 3
        m.extra = L.nn.Parameter(L.zeros(1))
        res.append([n for n, _ in m.named_parameters(recurse=False)])
    assert res[1] == res[0] == ["w", "extra"]


# --- backend/layout predicates (DCGAN's `if input.is_cuda or input.is_xpu`) ---

@pytest.mark.parametrize("name", ["is_cuda", "is_xpu", "is_mps", "is_meta", "is_ipu", "is_maia", "is_mtia",
                                  "is_vulkan", "is_xla", "is_mkldnn", "is_quantized", "is_sparse",
                                  "is_sparse_csr", "is_nested"])
def test_backend_predicates_match_torch_on_cpu(name):
    assert getattr(ember.ones(2), name) is getattr(torch.ones(2), name) is False


def test_is_pinned():
    assert ember.ones(2).is_pinned() is torch.ones(2).is_pinned() is False


# --- BCELoss on a saturated sigmoid (outputs exactly 0 or 1) ---

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_gradient_finite_at_zero_and_one(reduction, weighted):
    xv = np.array([1.0, 0.0, 1.0, 0.0, 0.5, 1 - 1e-7, 1e-30], dtype=np.float32)
    tv = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.3], dtype=np.float32)
    wv = np.array([2.0, 1.0, 1.0, 3.0, 0.5, 1.0, 1.0], dtype=np.float32)
    res = []
    for L in (torch, ember):
        x = L.tensor(xv, requires_grad=True)
        w = L.tensor(wv) if weighted else None
        loss = L.nn.functional.binary_cross_entropy(x, L.tensor(tv), weight=w, reduction=reduction)
        loss.sum().backward()
        res.append((loss.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-6)
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-6)
    assert np.isfinite(res[1][1]).all()


def test_bce_target_gradient_and_second_order():
    rng = np.random.RandomState(0)
    xv, tv = rng.uniform(0.05, 0.95, (3, 4)), rng.uniform(0, 1, (3, 4))
    res = []
    for L in (torch, ember):
        x, t = L.tensor(xv, requires_grad=True), L.tensor(tv, requires_grad=True)
        loss = L.nn.functional.binary_cross_entropy(x, t)
        gx, gt = L.autograd.grad(loss, (x, t), create_graph=True)
        (ggx,) = L.autograd.grad((gx ** 2).sum() + gt.sum(), x)
        res.append([a.detach().numpy() for a in (loss, gx, gt, ggx)])
    for a, b in zip(res[1], res[0]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    x, t = ember.tensor(xv, requires_grad=True), ember.tensor(tv, requires_grad=True)
    f = ember.nn.functional.binary_cross_entropy
    assert ember.autograd.gradcheck(f, (x, t))
    assert ember.autograd.gradgradcheck(f, (x, t))


def test_bce_saturated_training_step_stays_finite():
    # a sigmoid that saturates to exactly 1.0 on a negative example: torch's gradient is 1e12 * weight,
    # clipped it trains on; ember gave NaN before and the next forward failed
    for L in (torch, ember):
        lin = L.nn.Linear(1, 1)
        with L.no_grad():
            lin.weight.fill_(100.0)
            lin.bias.fill_(0.0)
        out = L.sigmoid(lin(L.tensor([[1.0], [-1.0]]))).squeeze(1)
        assert out[0].item() == 1.0
        L.nn.BCELoss()(out, L.tensor([0.0, 0.0])).backward()
        assert np.isfinite(lin.weight.grad.numpy()).all() and np.isfinite(lin.bias.grad.numpy()).all()


def test_bce_out_of_range_input_error():
    with pytest.raises(RuntimeError, match=r"binary_cross_entropy: all elements of input should be between 0 and 1"):
        ember.nn.functional.binary_cross_entropy(ember.tensor([1.5]), ember.tensor([1.0]))


# --- whole-model checkpoints loaded under an allowlist (word_language_model:
#     `with torch.serialization.safe_globals([...]): model = torch.load(f)`) ---

def _lm(L):
    nn = L.nn

    class TinyLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Embedding(11, 8)
            self.rnn = nn.LSTM(8, 8, 2)
            self.attn = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 1, enable_nested_tensor=False)
            self.register_buffer("pe", L.arange(40.0).view(20, 2)[:5])  # a view kept as a buffer
            self.decoder = nn.Linear(8, 11)
            self.kind = "LSTM"

        def forward(self, x):
            h, _ = self.rnn(self.encoder(x))
            return self.decoder(self.attn(h)) + self.pe.sum()
    TinyLM.__qualname__ = TinyLM.__name__ = f"TinyLM_{L.__name__}"  # picklable by name, as a module-level class
    return TinyLM


TinyLM_torch = _lm(torch)
TinyLM_ember = _lm(ember)
_TinyLM = {"torch": TinyLM_torch, "ember": TinyLM_ember}


def _allow(L, cls):
    nn = L.nn
    return [cls, nn.modules.sparse.Embedding, nn.modules.rnn.LSTM, nn.modules.linear.Linear,
            nn.modules.transformer.TransformerEncoder, nn.modules.transformer.TransformerEncoderLayer,
            nn.modules.activation.MultiheadAttention, nn.modules.linear.NonDynamicallyQuantizableLinear,
            nn.modules.normalization.LayerNorm, nn.modules.dropout.Dropout, nn.modules.container.ModuleList,
            L.nn.functional.relu]


@pytest.mark.parametrize("L", [torch, ember], ids=["torch", "ember"])
def test_whole_model_loads_under_safe_globals(L, tmp_path):
    import pickle

    cls = _TinyLM[L.__name__]
    L.manual_seed(0)
    model = cls().eval()
    path = str(tmp_path / "model.pt")
    L.save(model, path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        L.load(path)
    allow = _allow(L, cls)
    with pytest.raises(pickle.UnpicklingError, match="LayerNorm"):  # one class short: named in the error
        with L.serialization.safe_globals([a for a in allow if a is not L.nn.modules.normalization.LayerNorm]):
            L.load(path)
    with L.serialization.safe_globals(allow):
        assert set(allow) <= set(L.serialization.get_safe_globals())
        loaded = L.load(path)
    assert not set(allow) & set(L.serialization.get_safe_globals())
    loaded.rnn.flatten_parameters()
    x = L.tensor([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())
    assert loaded.kind == "LSTM" and type(loaded.attn.layers[0].self_attn.out_proj).__name__ == \
        "NonDynamicallyQuantizableLinear"
    L.serialization.add_safe_globals(allow)
    try:
        assert isinstance(L.load(path), cls)
    finally:
        L.serialization.clear_safe_globals()
    assert L.serialization.get_safe_globals() == []


def test_safe_globals_set_semantics():
    S = ember.serialization
    try:
        S.add_safe_globals([ember.nn.Linear, ember.nn.Linear, (ember.nn.ReLU, "x.ReLU")])
        assert S.get_safe_globals() == [ember.nn.Linear, (ember.nn.ReLU, "x.ReLU")]
        with S.safe_globals([ember.nn.Linear, ember.nn.Tanh]):
            assert ember.nn.Tanh in S.get_safe_globals()
        assert S.get_safe_globals() == [(ember.nn.ReLU, "x.ReLU")]  # torch removes what the block named
    finally:
        S.clear_safe_globals()


def test_safe_globals_rejects_non_classes():
    with pytest.raises(TypeError, match="add_safe_globals: 3 is not a class or function"):
        ember.serialization.add_safe_globals([3])
    with pytest.raises(TypeError, match="safe_globals: expected a list"):
        ember.serialization.safe_globals(ember.nn.Linear)
    assert ember.serialization.get_safe_globals() == []


def _torch_module_files():
    import importlib
    import inspect
    import pkgutil

    out = []
    for _, file, _ in pkgutil.iter_modules(torch.nn.modules.__path__):
        if file.startswith("_") or file in ("module", "utils", "linear_cross_entropy", "linear_cross_entropy_options"):
            continue
        tmod = importlib.import_module("torch.nn.modules." + file)
        out += [(file, k) for k, v in vars(tmod).items()
                if inspect.isclass(v) and v.__module__ == tmod.__name__ and not k.startswith("_")
                and k != "NonDynamicallyQuantizableLinear"]
    return out


@pytest.mark.parametrize("file,name", _torch_module_files())
def test_every_nn_class_at_torchs_module_path(file, name):
    # super_resolution's loader allowlists torch.nn.modules.pixelshuffle.PixelShuffle
    import importlib

    mod = importlib.import_module("ember.nn.modules." + file)
    assert getattr(mod, name) is getattr(ember.nn, name)


def test_torch_module_paths():
    for path in ("activation.MultiheadAttention", "linear.NonDynamicallyQuantizableLinear"):
        mod, name = path.split(".")
        e = getattr(getattr(ember.nn.modules, mod), name)
        t = getattr(getattr(torch.nn.modules, mod), name)
        assert e.__name__ == t.__name__
    assert issubclass(ember.nn.modules.linear.NonDynamicallyQuantizableLinear, ember.nn.Linear)
    assert type(ember.nn.MultiheadAttention(4, 2).out_proj).__name__ == "NonDynamicallyQuantizableLinear"


# --- repeat returns new memory (fast_neural_style: `style.repeat(b, 1, 1, 1)` then `batch.div_(255)`) ---

@pytest.mark.parametrize("reps", [(4, 1, 1, 1), (1, 1, 1), (2, 1, 2), (3, 1, 1)])
def test_repeat_is_a_copy_that_takes_inplace_writes(reps):
    res = []
    for L in (torch, ember):
        src = L.arange(6.0).view(1, 2, 3)
        r = src.repeat(*reps)
        r.div_(2.0)
        r.view(-1)[0] = 100.0
        t = src.tile((2,))
        t.mul_(3.0)
        res.append((src.numpy().copy(), r.numpy().copy(), t.numpy().copy(), r.is_contiguous()))
    for a, b in zip(res[1], res[0]):
        np.testing.assert_array_equal(a, b)


def test_repeat_gradient():
    a = np.random.RandomState(0).randn(1, 2, 3)
    res = []
    for L in (torch, ember):
        x = L.tensor(a, requires_grad=True)
        y = x.repeat(4, 1, 1)
        (y * L.arange(24.0, dtype=y.dtype).view(4, 2, 3)).sum().backward()
        res.append(x.grad.numpy())
    np.testing.assert_allclose(res[1], res[0])


# --- Hogwild (mnist_hogwild: model.share_memory(), then torch.multiprocessing Processes train it) ---

def _hogwild_worker(rank, model, lib_name):
    L = ember if lib_name == "ember" else torch
    opt = L.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        model(L.ones(1, 2)).sum().backward()
        opt.step()


@pytest.mark.parametrize("L,method", [(torch, "fork"), (ember, "fork"), (ember, "spawn")],
                         ids=["torch-fork", "ember-fork", "ember-spawn"])
def test_share_memory_hogwild(L, method):
    mp = L.multiprocessing
    m = L.nn.Linear(2, 1)
    with L.no_grad():
        m.weight.fill_(0.0)
        m.bias.fill_(0.0)
    assert not m.weight.is_shared()
    assert m.share_memory() is m
    assert m.weight.is_shared() and m.bias.is_shared()
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=_hogwild_worker, args=(r, m, L.__name__)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    # 2 processes x 5 steps x lr 0.1 x gradient 1, all on the same memory
    np.testing.assert_allclose(m.weight.detach().numpy(), [[-1.0, -1.0]], rtol=1e-5)
    np.testing.assert_allclose(m.bias.detach().numpy(), [-1.0], rtol=1e-5)


def test_shared_tensor_pickles_by_reference():
    import pickle

    t = ember.arange(6.0).share_memory_()
    u = pickle.loads(pickle.dumps(t))
    u.add_(1.0)
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0) + 1)
    plain = ember.arange(3.0)
    v = pickle.loads(pickle.dumps(plain))
    v.add_(1.0)
    np.testing.assert_array_equal(plain.numpy(), np.arange(3.0))  # not shared: copied
    p = ember.nn.Parameter(ember.ones(2)).share_memory_()
    q = pickle.loads(pickle.dumps(p))
    assert type(q) is ember.nn.Parameter and q.requires_grad and q.is_shared()


def test_share_memory_of_a_view_raises():
    with pytest.raises(RuntimeError, match="share_memory_: a view cannot be moved to shared memory"):
        ember.arange(6.0).view(2, 3)[0].share_memory_()


def _spawned(i, q):
    q.put(i * 10)


def test_spawn_runs_fn_with_index():
    ctx = ember.multiprocessing.get_context("spawn")
    q = ctx.SimpleQueue()
    ember.multiprocessing.spawn(_spawned, args=(q,), nprocs=2)
    assert sorted(q.get() for _ in range(2)) == [0, 10]


def _fails(i):
    raise SystemExit(3)


def test_spawn_raises_when_a_process_fails():
    with pytest.raises(ember.multiprocessing.ProcessExitedException, match="exit code 3"):
        ember.multiprocessing.spawn(_fails, nprocs=1)


def _drop_and_collect(holder):
    import gc

    holder.clear()
    gc.collect()


def test_forked_child_dropping_a_shared_tensor_keeps_the_block():
    from multiprocessing import shared_memory

    t = ember.arange(4.0).share_memory_()
    holder = [t]
    ctx = ember.multiprocessing.get_context("fork")
    del t
    p = ctx.Process(target=_drop_and_collect, args=(holder,))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    block = shared_memory.SharedMemory(name=holder[0]._shm.name)  # still there: only its creator unlinks it
    block.close()
    name = holder[0]._shm.name
    holder.clear()
    import gc

    gc.collect()
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name=name)
