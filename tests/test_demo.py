"""`ember demo` in a shortened form: outputs exist and accuracy is far above chance (10%)."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")


def test_demo_short_run(tmp_path, capsys):
    from ember.demo import run

    out = run(epochs=3, out=str(tmp_path / "demo"), progress=False, verbose=True)
    printed = capsys.readouterr().out
    assert out["test_acc"] > 0.6, out
    assert out["epochs"] == 3
    for key in ("metrics_csv", "best_model_path", "last_model_path"):
        assert os.path.isfile(out[key]), key
        assert out[key] in printed
    assert os.path.basename(out["last_model_path"]) == "last.ckpt"
    assert len([c for c in out["checkpoints"] if not c.endswith("last.ckpt")]) == 2  # top-2
    assert any(p.endswith(".png") for p in out["learning_curves"]), out["learning_curves"]
    with open(out["metrics_csv"]) as f:
        header = f.readline()
    assert "val_acc" in header and "lr-AdamW" in header


def test_cli_help_and_errors():
    r = subprocess.run([sys.executable, "-m", "ember", "demo", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--epochs" in r.stdout and "--out" in r.stdout
    r = subprocess.run([sys.executable, "-m", "ember", "nope"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unknown command 'nope'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "ember.demo", "--epochs", "0"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--epochs must be >= 1" in r.stderr
