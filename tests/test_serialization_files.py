"""ember.load reads regular files only (never /dev/zero, a FIFO or a folder), every malformed shape
is a CheckpointError, and temp files left by a crashed save are removed by the next save."""

import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import ember
from ember.serialization import CheckpointError

sys.path.insert(0, os.path.dirname(__file__))
from test_serialization_fuzz import resign  # noqa: E402  (the documented re-signing recipe)


def _load_in_child(path, timeout=20):
    """ember.load(path) in a subprocess, with a timeout: a reader that hangs or reads forever fails."""
    code = ("import sys, ember\n"
            "try:\n    ember.load(sys.argv[1])\n"
            "except ember.serialization.CheckpointError as e:\n    print('CheckpointError', e); sys.exit(0)\n"
            "print('loaded'); sys.exit(1)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(os.path.dirname(__file__), "..", "src")]
                                                      + sys.path))
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=timeout,
                       env=env)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize("path,kind", [("/dev/zero", "character device"), ("/dev/urandom", "character device")])
def test_devices_are_refused_without_reading(path, kind):
    if not os.path.exists(path):
        pytest.skip(f"no {path}")
    rc, out = _load_in_child(path)
    assert rc == 0 and f"it is a {kind}, not a regular file" in out, out


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs")
    fifo = tmp_path / "pipe.ckpt"
    os.mkfifo(fifo)
    rc, out = _load_in_child(fifo)
    assert rc == 0 and "a FIFO (named pipe), not a regular file" in out, out


def test_directory_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="it is a directory, not a regular file"):
        ember.load(tmp_path)


def _file_with_shape(tmp_path, shape, code="F32"):
    good = tmp_path / "good.ckpt"
    ember.save({"w": ember.zeros(2)}, good)
    data = good.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header, payload = json.loads(data[8:8 + n]), data[8 + n:]
    key = next(k for k in header if k != "__metadata__")
    header[key]["shape"] = shape
    header[key]["dtype"] = code
    p = tmp_path / "bad.ckpt"
    p.write_bytes(resign(header, payload))
    return p


@pytest.mark.parametrize("shape,match", [
    ([0, 2 ** 62], "too large"), ([2 ** 40, 0, 2 ** 40], "too large"), ([1] * 65, "65 dimensions"),
    ([-1, 2], "non-negative ints"), ([2 ** 64, 0], "too large"), ([2.0], "non-negative ints"),
])
def test_every_malformed_shape_is_a_checkpoint_error(tmp_path, shape, match):
    with pytest.raises(CheckpointError, match=match):
        ember.load(_file_with_shape(tmp_path, shape))


def test_stale_temp_files_of_a_crashed_save_are_removed_by_the_next_save(tmp_path):
    # a writer that died: its pid is gone (a child that exited); files older than a minute
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(child.stdout)
    old = time.time() - 3600
    stale = [tmp_path / f".last.ckpt.{dead}.abcd1234.tmp", tmp_path / f".epoch=1.ckpt.{dead}.zz_9zz9z.tmp"]
    fresh_dead = tmp_path / f".last.ckpt.{dead}.q1w2e3r4.tmp"      # just written: maybe another machine's
    live = tmp_path / f".last.ckpt.{os.getppid()}.live0000.tmp"    # a live process (our parent)
    other = tmp_path / "notes.tmp"                                  # not ours
    for p in [*stale, fresh_dead, live, other]:
        p.write_bytes(b"x" * 100)
    for p in [*stale, live, other]:
        os.utime(p, (old, old))
    ember.save({"w": ember.ones(3)}, tmp_path / "last.ckpt")
    assert not any(p.exists() for p in stale)
    assert fresh_dead.exists() and live.exists() and other.exists()
    assert np.array_equal(ember.load(tmp_path / "last.ckpt")["w"].numpy(), np.ones(3, np.float32))
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".last.ckpt.") and str(os.getpid()) in f]
