"""Grad mode is thread-local, as torch's (issue 7): real threads, interleaved deterministically.

Every scenario is written once against a torch-like library ``L`` and run with torch (which proves the
scenario itself) and with ember. Threads meet at ``threading.Barrier``s placed so that one thread's
forward pass or grad-mode check happens *while* the other thread is inside ``no_grad`` or inside
``backward()`` (a tensor hook parks it there); every wait and join has a timeout, so a broken engine
fails the test instead of hanging it.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import ember

TIMEOUT = 30.0
LIBS_XFAIL = [pytest.param(torch, id="torch"), pytest.param(ember, id="ember")]


@pytest.fixture(autouse=True)
def _restore_modes():
    """One thread; and while grad mode is process-global, a test's other thread can leave it off for the
    whole process: restore both libraries' grad and anomaly modes after every test."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    from ember.autograd.anomaly import set_detect_anomaly

    yield
    torch.set_num_threads(n)
    torch.set_grad_enabled(True)
    ember.set_grad_enabled(True)
    set_detect_anomaly(False)


class Worker(threading.Thread):
    """A thread that keeps its result or its exception; ``result()`` joins it with a timeout."""

    def __init__(self, fn, *args, barrier=None):
        super().__init__(daemon=True)
        self.fn, self.args, self.barrier = fn, args, barrier
        self.value, self.error = None, None

    def run(self):
        try:
            self.value = self.fn(*self.args)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            self.error = e
            if self.barrier is not None:
                self.barrier.abort()  # release the partner at once instead of after TIMEOUT

    def result(self):
        self.join(TIMEOUT)
        assert not self.is_alive(), "worker thread did not finish in time"
        if self.error is not None:
            raise self.error
        return self.value


# ------------------------------------------------------------------ grad mode seen by another thread
MODES = {
    "no_grad": lambda L: L.no_grad(),
    "inference_mode": lambda L: L.inference_mode(),
    "set_grad_enabled(False)": lambda L: L.set_grad_enabled(False),
}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("L", LIBS_XFAIL)
def test_no_grad_in_another_thread_does_not_leak(L, mode):
    bar = threading.Barrier(2, timeout=TIMEOUT)

    def other():
        with MODES[mode](L):
            bar.wait()  # 1: inside no_grad
            inside = L.is_grad_enabled()
            bar.wait()  # 2: main has looked
        return inside

    w = Worker(other, barrier=bar)
    w.start()
    bar.wait()
    x = L.ones(3, requires_grad=True)
    seen = (L.is_grad_enabled(), (x * 2).requires_grad)
    bar.wait()
    assert w.result() is False
    assert seen == (True, True)


@pytest.mark.parametrize("L", LIBS_XFAIL)
def test_enable_grad_in_another_thread_does_not_leak(L):
    bar = threading.Barrier(2, timeout=TIMEOUT)

    def other():
        with L.enable_grad():
            bar.wait()  # 1: main is under no_grad, this thread under enable_grad
            inside = (L.ones(2, requires_grad=True) * 2).requires_grad
            bar.wait()  # 2
        return inside

    with L.no_grad():
        w = Worker(other, barrier=bar)
        w.start()
        bar.wait()
        seen = (L.is_grad_enabled(), (L.ones(2, requires_grad=True) * 2).requires_grad)
        bar.wait()
    assert w.result() is True
    assert seen == (False, False)


@pytest.mark.parametrize("L", LIBS_XFAIL)
def test_new_thread_starts_with_grad_enabled(L):
    with L.no_grad():
        w = Worker(lambda: (L.is_grad_enabled(), (L.ones(2, requires_grad=True) * 2).requires_grad))
        w.start()
        assert w.result() == (True, True)
        assert not L.is_grad_enabled()


@pytest.mark.parametrize("L", LIBS_XFAIL)
def test_set_grad_enabled_call_stays_in_its_thread(L):
    def other():
        L.set_grad_enabled(False)  # the function form, never undone in this thread
        return L.is_grad_enabled()

    w = Worker(other)
    w.start()
    assert w.result() is False
    assert L.is_grad_enabled()
    assert (L.ones(2, requires_grad=True) * 3).requires_grad


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("L", LIBS_XFAIL)
def test_backward_never_changes_another_threads_mode(L, create_graph):
    bar = threading.Barrier(2, timeout=TIMEOUT)

    def other():
        x = L.ones(3, requires_grad=True)
        y = x * 2
        seen = []

        def hook(g):
            seen.append(L.is_grad_enabled())  # torch: backward runs with grad mode = create_graph
            bar.wait()  # 3: parked inside backward
            bar.wait()  # 4: main has looked and recorded
            return g

        y.register_hook(hook)
        loss = (y * y).sum()
        bar.wait()  # 1: graph recorded
        bar.wait()  # 2: main has set its own mode
        loss.backward(create_graph=create_graph)
        return seen, x.grad.detach().numpy().tolist(), L.is_grad_enabled()

    # The main thread holds the opposite mode of the one the other thread's backward runs under.
    mine = not create_graph
    w = Worker(other, barrier=bar)
    w.start()
    bar.wait()  # 1
    with L.set_grad_enabled(mine):
        bar.wait()  # 2
        bar.wait()  # 3: the other thread is inside backward now
        x = L.ones(2, requires_grad=True)
        seen_main = (L.is_grad_enabled(), (x * 2).requires_grad)
        bar.wait()  # 4
    seen_other, grad, after = w.result()
    assert seen_main == (mine, mine)
    assert seen_other == [create_graph]
    assert grad == [8.0, 8.0, 8.0]
    assert after is True  # backward restores the caller's mode
    assert L.is_grad_enabled()


def test_anomaly_mode_is_thread_local():
    """Issue 7 asks for thread-local anomaly mode (torch 2.13's flag is process-global, so ember only)."""
    from ember.autograd.anomaly import is_anomaly_enabled

    bar = threading.Barrier(2, timeout=TIMEOUT)

    def other():
        with ember.autograd.detect_anomaly():
            bar.wait()
            inside = is_anomaly_enabled()
            bar.wait()
        return inside

    w = Worker(other, barrier=bar)
    w.start()
    bar.wait()
    seen = is_anomaly_enabled()
    bar.wait()
    assert w.result() is True
    assert seen is False


# ------------------------------------------------------------------ training in threads
def _data(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((16, 6)).astype(np.float32)
    Y = (X[:, :1] * 0.5 - X[:, 1:2] ** 2).astype(np.float32)
    return X, Y


def _model(L, seed):
    L.manual_seed(seed)
    return L.nn.Sequential(L.nn.Linear(6, 12), L.nn.Tanh(), L.nn.Linear(12, 1))


def _train(L, model, X, Y, steps=100, before_forward=None, in_backward=None):
    """SGD on an MLP; optional callbacks run right before each forward and inside each backward."""
    opt = L.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    X, Y = L.from_numpy(X), L.from_numpy(Y)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        if before_forward is not None:
            before_forward()
        out = model(X)
        if in_backward is not None:
            out.register_hook(lambda g: (in_backward(), g)[1])
        loss = ((out - Y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def _assert_same_run(a, b):
    assert a[0] == b[0]  # losses, bit for bit
    for p, q in zip(a[1], b[1]):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("L", LIBS_XFAIL)
def test_two_threads_train_two_models_as_if_one_after_the_other(L):
    (XA, YA), (XB, YB) = _data(0), _data(1)
    seq_a = _train(L, _model(L, 10), XA, YA)
    seq_b = _train(L, _model(L, 11), XB, YB)

    # A parks inside each backward until B has run a whole forward pass: the passes overlap every step.
    bar = threading.Barrier(2, timeout=TIMEOUT)

    def a_in_backward():
        bar.wait()
        bar.wait()

    def b_before_forward():
        bar.wait()

    model_a, model_b = _model(L, 10), _model(L, 11)
    ta = Worker(_train, L, model_a, XA, YA, 100, None, a_in_backward, barrier=bar)
    tb = Worker(_train, L, model_b, XB, YB, 100, b_before_forward, bar.wait, barrier=bar)
    # B: wait before forward (meets A inside its backward), then its hook's wait meets A's second wait.
    ta.start()
    tb.start()
    par_a, par_b = ta.result(), tb.result()
    _assert_same_run(par_a, seq_a)
    _assert_same_run(par_b, seq_b)


@pytest.mark.parametrize("L", LIBS_XFAIL)
def test_eval_thread_under_no_grad_does_not_affect_training(L):
    X, Y = _data(2)
    alone = _train(L, _model(L, 20), X, Y, steps=50)

    steps = 50
    bar = threading.Barrier(2, timeout=TIMEOUT)
    eval_model = _model(L, 21)
    Xe = L.from_numpy(X)

    def evaluate():
        flags = []
        for _ in range(steps):
            with L.no_grad():
                bar.wait()  # 1: inside no_grad; the trainer now runs one step
                flags.append(eval_model(Xe).requires_grad)
                bar.wait()  # 2: the trainer's step is done
        return flags

    calls = []

    def before_forward():  # each training step runs between the evaluator's two waits
        if calls:
            bar.wait()  # 2 of the previous round
        calls.append(1)
        bar.wait()  # 1

    ev = Worker(evaluate, barrier=bar)
    ev.start()
    try:
        with_eval = _train(L, _model(L, 20), X, Y, steps=steps, before_forward=before_forward)
        bar.wait()  # 2 of the last round
    except BaseException:
        bar.abort()
        raise
    flags = ev.result()
    _assert_same_run(with_eval, alone)
    assert flags == [False] * steps
