"""ember's self-contained HTML pages (autograd graph, learning curves) open in headless Chromium, draw
themselves without script errors, and respond to hover, zoom, pan and the toggles (the page's own
#selftest drives synthetic events and reports in ``data-selftest``). Skipped when Chromium is absent
(Debian: ``apt-get install chromium``)."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import ember
import ember.viz

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _open(path, tmp_path):
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    url = path.resolve().as_uri() + "#selftest"
    r = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1400,1000",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--dump-dom", url],
        capture_output=True, text=True, timeout=90,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    head = r.stdout[:400 + r.stdout.find("<head")]
    m = re.search(r'data-errors="([^"]*)"', head)
    assert m is None, f"script errors: {m.group(1)}"
    assert 'data-rendered="ok"' in r.stdout, "the page did not finish drawing"
    st = re.search(r'data-selftest="([^"]*)"', r.stdout)
    assert st is not None and st.group(1) == "pass", st.group(1) if st else "no self-test result"
    return r.stdout


def test_graph_page_renders_in_chromium(tmp_path):
    ember.manual_seed(0)
    m = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.Tanh(), ember.nn.Linear(4, 1))
    a = m(ember.randn(2, 3)).sum()
    b = m(m[0](ember.randn(1, 3)).sum(1, keepdim=True).expand(1, 3)).sum()
    p = ember.viz.to_html({"a": a, "b": b}, tmp_path / "graph.html", params=dict(m.named_parameters()))
    dom = _open(p, tmp_path)
    assert dom.count('class="node ') >= 10 and "AccumulateGrad" in dom


def test_learning_curve_page_renders_in_chromium(tmp_path):
    import math

    from ember.train._plots import write_learning_curves

    rows = [{"train_loss_step": 3 * math.exp(-s / 5) + 0.01, "epoch": s // 5, "step": s} for s in range(25)]
    rows += [{"val_loss": 2 * math.exp(-e) + 0.02, "train_loss_epoch": 2.5 * math.exp(-e), "val_acc": 0.5 + 0.1 * e,
              "epoch": e, "step": 5 * e + 4} for e in range(5)]
    rows += [{"test_loss": 0.1, "test_acc": 0.9, "epoch": 4, "step": 25}]
    p = write_learning_curves(rows, tmp_path)["html"]
    from pathlib import Path

    dom = _open(Path(p), tmp_path)
    assert dom.count('class="panel chart"') == 2 and "loss (log)" in dom  # losses spanning decades: log axis
