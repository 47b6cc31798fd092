"""A corpus of real-style PyTorch programs (tests/programs/), each run with torch and with ember as torch.

Every ``tests/programs/*.py`` (not starting with ``_``) is a complete program in the style of the
PyTorch tutorials, pytorch/examples or Lightning's examples, on small synthetic seeded data. The
programs run in two subprocesses (one with torch, one with ember put in torch's place by an import
hook, see ``programs/_run.py``) and each program's printed output must agree: the same lines, the
same words, numbers equal within the program's tolerance (``# compare: rtol=..., atol=...`` in its
first lines; 1e-4 / 1e-5 by default). ``torch.`` in torch's output reads ``ember.`` in ember's.
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS_DIR = os.path.join(HERE, "programs")
SRC = os.path.abspath(os.path.join(HERE, os.pardir, "src"))
PROGRAMS = sorted(f for f in os.listdir(PROGRAMS_DIR) if f.endswith(".py") and not f.startswith("_"))
# programs stopped by something ember lacks (strict: they must start failing when it lands)
XFAIL: dict = {}
NEEDS = {"lightning_autoencoder.py": "lightning"}
TIMEOUT = 600

_NUM = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)")
_TOKEN = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[A-Za-z_][\w.]*|\S")


def _have(mod):
    try:
        __import__(mod)
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _results():
    """Run every program once per library, both subprocesses side by side."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    runner = os.path.join(PROGRAMS_DIR, "_run.py")
    procs = {}
    for lib in ("torch", "ember"):
        progs = [p for p in PROGRAMS if lib == "ember" or p not in NEEDS or _have(NEEDS[p])]
        procs[lib] = subprocess.Popen([sys.executable, runner, lib, *progs], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env)
    out = {}
    for lib, p in procs.items():
        try:
            stdout, stderr = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError(f"the {lib} run of tests/programs took more than {TIMEOUT} s") from None
        assert p.returncode == 0, f"the {lib} runner failed:\n{stderr[-3000:]}"
        out[lib] = json.loads(stdout)
    return out


def _tolerance(prog):
    with open(os.path.join(PROGRAMS_DIR, prog), encoding="utf-8") as f:
        head = f.read(2000)
    m = re.search(r"#\s*compare:\s*rtol=([\d.e-]+),\s*atol=([\d.e-]+)", head)
    return (float(m.group(1)), float(m.group(2))) if m else (1e-4, 1e-5)


def _same_line(a, b, rtol, atol):
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    if len(ta) != len(tb):
        return False
    for x, y in zip(ta, tb):
        if _NUM.fullmatch(x) and _NUM.fullmatch(y):
            fx, fy = float(x), float(y)
            if not (math.isclose(fx, fy, rel_tol=rtol, abs_tol=atol) or (math.isnan(fx) and math.isnan(fy))):
                return False
        elif x != y:
            return False
    return True


def compare_outputs(ref, got, rtol, atol):
    """Assert that two programs' outputs agree line by line (numbers within tolerance)."""
    got = re.sub(r"\bember\.", "torch.", got)
    ra, ga = ref.splitlines(), got.splitlines()
    for i, (a, b) in enumerate(zip(ra, ga)):
        assert _same_line(a, b, rtol, atol), f"line {i + 1} differs:\n  torch: {a}\n  ember: {b}"
    assert len(ra) == len(ga), f"torch printed {len(ra)} lines, ember {len(ga)}:\n{ref}\n---\n{got}"


@pytest.mark.parametrize("prog", [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=XFAIL[p]))
                                  if p in XFAIL else p for p in PROGRAMS])
def test_program_runs_like_torch(prog):
    res = _results()
    got = res["ember"][prog]
    assert got["error"] is None, f"{prog} stopped under ember: {got['error']}\nprinted:\n{got['out'][-2000:]}"
    if prog not in res["torch"]:
        pytest.skip(f"{NEEDS[prog]} is not installed: checked that ember runs it, not against the reference")
    ref = res["torch"][prog]
    assert ref["error"] is None, f"{prog} fails under torch itself: {ref['error']}"
    assert ref["out"].strip(), f"{prog} printed nothing"
    compare_outputs(ref["out"], got["out"], *_tolerance(prog))


def test_comparison_catches_differences():
    compare_outputs("loss 0.50000 torch.float32", "loss 0.50001 ember.float32", 1e-4, 1e-5)
    for a, b in [("loss 0.5", "loss 0.6"), ("a b", "a c"), ("x 1", "x 1 2"), ("1\n2", "1")]:
        with pytest.raises(AssertionError):
            compare_outputs(a, b, 1e-4, 1e-5)


def test_corpus_size():
    assert len(PROGRAMS) >= 25


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_rnn_over_one_time_step_input_gradient(kind):
    # found by seq2seq_attention.py: an RNN over a single step gave every batch row the first row's gradient
    import numpy as np
    import torch

    import ember

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 1, 2)).astype(np.float32)
    grads = []
    for L in (torch, ember):
        m = getattr(L.nn, kind)(2, 4, batch_first=True)
        with L.no_grad():
            for i, p in enumerate(m.parameters()):
                p.copy_(L.tensor(np.random.default_rng(i).normal(size=tuple(p.shape)).astype(np.float32) * 0.3))
        xx = L.tensor(x, requires_grad=True)
        out, _ = m(xx)
        out.pow(2).sum().backward()
        grads.append(xx.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-6)
