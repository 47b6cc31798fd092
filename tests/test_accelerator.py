"""torch.accelerator / torch.cuda / torch.backends queries, default device, and OS-seeded RNG."""
from __future__ import annotations

import subprocess
import sys
import os

import pytest
import torch

import ember

NO_GPU = not ember.cuda.is_available()
SRC = os.path.join(os.path.dirname(__file__), os.pardir, "src")


@pytest.mark.skipif(not NO_GPU, reason="answers differ from a CPU-only torch where CuPy sees a GPU")
def test_cpu_only_answers_match_torch():
    for L in (ember, torch):
        assert L.accelerator.is_available() is False
        assert L.accelerator.current_accelerator() is None
        assert L.accelerator.device_count() == 0
        assert L.cuda.is_available() is False and L.cuda.device_count() == 0
        assert L.backends.mps.is_available() is False
        assert L.backends.cudnn.is_available() is False and L.backends.cudnn.version() is None
        assert L.backends.cudnn.enabled is True and L.backends.cudnn.benchmark is False
        assert L.backends.cudnn.deterministic is False
        assert str(L.get_default_device()) == "cpu"
        L.cuda.empty_cache()
        assert L.cuda.memory_allocated() == 0 and L.cuda.max_memory_allocated() == 0
    assert ember.backends.mkldnn.is_available() is False  # ember has no oneDNN kernels (torch does)


@pytest.mark.skipif(not NO_GPU, reason="CPU-only behaviour")
def test_device_selection_idioms_run():
    for L in (ember, torch):
        dev = L.accelerator.current_accelerator().type if L.accelerator.is_available() else "cpu"
        dev2 = "cuda" if L.cuda.is_available() else ("mps" if L.backends.mps.is_available() else "cpu")
        dev3 = L.device("cuda:0" if L.cuda.is_available() else "cpu")
        x = L.ones(2, device=dev).to(dev2).to(dev3)
        assert x.device.type == "cpu" and dev == dev2 == "cpu"
    L = ember
    L.backends.cudnn.benchmark = True
    L.backends.cudnn.deterministic = True
    L.backends.cuda.matmul.allow_tf32 = True
    L.backends.cudnn.benchmark = L.backends.cudnn.deterministic = False
    L.cuda.manual_seed_all(3)  # a no-op without a GPU, as torch: the CPU stream is untouched
    ember.manual_seed(0)
    a = ember.rand(3)
    ember.manual_seed(0)
    ember.cuda.manual_seed(123)
    assert ember.rand(3).tolist() == a.tolist()


@pytest.mark.skipif(not NO_GPU, reason="CPU-only behaviour")
def test_device_errors_are_clear():
    ember.set_default_device("cpu")
    ember.set_default_device(None)
    with pytest.raises(RuntimeError, match=r"set_default_device\('cuda'\): CUDA is not available.*CuPy"):
        ember.set_default_device("cuda")
    with pytest.raises(RuntimeError, match=r"ember.cuda.current_device: CUDA is not available"):
        ember.cuda.current_device()
    with pytest.raises(RuntimeError, match=r"ember.accelerator.current_device_index: no accelerator"):
        ember.accelerator.current_device_index()
    with pytest.raises(RuntimeError, match=r"ember.cuda.synchronize: CUDA is not available"):
        ember.cuda.synchronize()
    with pytest.raises(RuntimeError, match=r"ember.accelerator.synchronize: no accelerator is available"):
        ember.accelerator.synchronize()
    assert str(ember.get_default_device()) == "cpu"


_DRAW = "import ember; print(ember.initial_seed(), ember.rand(3).tolist(), ember.randint(0, 10**9, (2,)).tolist())"


def _draw(code=_DRAW):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_unseeded_processes_differ_seeded_agree():
    a, b = _draw(), _draw()
    assert a != b  # seeded from the OS, as torch
    seeded = "import ember; ember.manual_seed(7); " + _DRAW.split("; ", 1)[1]
    c, d = _draw(seeded), _draw(seeded)
    assert c == d and c.startswith("7 ")


def test_seed_and_initial_seed():
    s = ember.seed()
    assert isinstance(s, int) and 0 <= s < 2**64 and ember.initial_seed() == s
    x = ember.rand(4)
    ember.manual_seed(s)
    assert ember.rand(4).tolist() == x.tolist()
    ember.manual_seed(5)
    assert ember.initial_seed() == 5
    assert ember.Generator().initial_seed() == torch.Generator().initial_seed() == 67280421310721
    assert ember.seed() != ember.seed()
