"""ember.load reads regular files only (never /dev/zero, a FIFO or a folder), every malformed shape
is a CheckpointError, and temp files left by a crashed save are removed by the next save."""

import io
import json
import os
import re
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
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           timeout=60)
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


# -- the header is checked before the body is read ------------------------------------------------------

class _Counting:
    """A binary file object that counts the bytes handed out by read() (seekable unless told not)."""

    def __init__(self, path, seekable=True):
        self._f, self.bytes_read, self._seekable, self.name = open(path, "rb"), 0, seekable, str(path)

    def read(self, n=-1):
        b = self._f.read(n)
        self.bytes_read += len(b)
        return b

    def seekable(self):
        return self._seekable

    def seek(self, *a):
        if not self._seekable:
            raise OSError("not seekable")
        return self._f.seek(*a)

    def tell(self):
        return self._f.tell()

    def close(self):
        self._f.close()


def _big_checkpoint(tmp_path, n_floats=1 << 18):
    p = tmp_path / "big.ckpt"
    ember.save({"w": ember.zeros(n_floats), "b": ember.ones(3)}, p)
    data = p.read_bytes()
    return p, data, struct.unpack("<Q", data[:8])[0]


def _load_counting(path, seekable=True):
    f = _Counting(path, seekable)
    try:
        with pytest.raises(CheckpointError) as e:
            ember.load(f)
    finally:
        f.close()
    return str(e.value), f.bytes_read


@pytest.mark.parametrize("seekable", [True, False])
def test_a_body_shorter_than_the_header_declares_is_refused_before_the_body_is_read(tmp_path, seekable):
    p, data, n = _big_checkpoint(tmp_path)           # a 1 MiB tensor
    p.write_bytes(data[:8 + n + 1000])               # truncated inside the body
    msg, got = _load_counting(p, seekable)
    if seekable:  # the file size is known: the header alone shows the data is missing
        assert "run past the end of the data (1000 bytes); the file is truncated" in msg, msg
        assert got == 8 + n                          # the length field and the header, nothing more
    else:         # a stream: the body is read up to what the header declares, and found short
        assert "the data ends after 1000 bytes but the tensors declare" in msg, msg
    # a file with more bytes than the header accounts for is refused as early
    p.write_bytes(data + b"\x00" * 64)
    msg, got = _load_counting(p)
    assert "64 trailing bytes after the last tensor" in msg and got == 8 + n, msg


def test_a_truncated_header_is_refused_after_reading_only_the_length_field(tmp_path):
    p, data, n = _big_checkpoint(tmp_path)
    p.write_bytes(data[:8 + n // 2])
    msg, got = _load_counting(p)
    assert f"the header length field says {n} bytes but only {n // 2} bytes follow" in msg and got == 8, msg
    msg, got = _load_counting(p, seekable=False)     # a stream: the header is read and found short
    assert f"says {n} bytes but only {n // 2} bytes follow" in msg and got == 8 + n // 2, msg


@pytest.mark.parametrize("declared", [2 ** 63 + 5, 2 ** 40, 10 ** 9])
def test_a_huge_declared_header_length_is_refused_without_reading(tmp_path, declared):
    p = tmp_path / "huge.ckpt"
    p.write_bytes(struct.pack("<Q", declared) + b'{"__metadata__":{}}' + b"\x00" * 4000)
    msg, got = _load_counting(p)
    assert f"the header length field says {declared} bytes but only 4019 bytes follow" in msg and got == 8, msg
    msg, got = _load_counting(p, seekable=False)     # stream: the size is unknown, the limit still holds
    assert f"the header is {declared} bytes, more than the 100000000-byte limit" in msg and got == 8, msg


def test_a_large_file_with_a_bad_header_is_not_read_into_memory(tmp_path):
    import tracemalloc

    size = 256 << 20                                  # a sparse 256 MiB file: costs no disk or time to write
    over = tmp_path / "over_limit.ckpt"               # header length within the file but over the limit
    with open(over, "wb") as f:
        f.write(struct.pack("<Q", 200 << 20) + b"{")
        f.truncate(size)
    short = tmp_path / "short_body.ckpt"              # a valid header declaring more data than the file has
    with open(short, "wb") as f:
        header = {"__metadata__": {}, "w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}
        text = json.dumps(header).encode()
        f.write(struct.pack("<Q", len(text)) + text)
        f.truncate(size)
    cases = [(over, "more than the 100000000-byte limit", ember.load),
             (short, f"data_offsets [0, {size}] run past the end of the data", ember.serialization.load_safetensors)]
    for path, match, fn in cases:
        tracemalloc.start()
        try:
            with pytest.raises(CheckpointError, match=re.escape(match)):
                fn(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 << 20, (path.name, peak)      # the old reader held all 256 MiB


def test_a_checkpoint_in_a_stream_still_loads(tmp_path):
    p, data, n = _big_checkpoint(tmp_path, n_floats=1000)
    f = _Counting(p, seekable=False)
    try:
        got = ember.load(f)
    finally:
        f.close()
    assert f.bytes_read == len(data) and got["w"].shape == (1000,) and got["b"].tolist() == [1.0, 1.0, 1.0]
    with open(p, "rb") as fh:                        # a file object positioned after other data
        fh.read(0)
        assert ember.load(fh)["w"].shape == (1000,)
    buf = io.BytesIO(b"prefix" + data)
    buf.seek(6)
    assert ember.load(buf)["b"].tolist() == [1.0, 1.0, 1.0]


def test_a_file_that_shrinks_while_it_is_read_is_a_checkpoint_error(tmp_path):
    p, data, n = _big_checkpoint(tmp_path, n_floats=1000)

    class Shrunk(io.BytesIO):  # reports the whole file's size, holds 100 bytes less (cut by another process)
        def seek(self, pos, whence=0):
            return len(data) if whence == os.SEEK_END else super().seek(pos, whence)

    with pytest.raises(CheckpointError, match=rf"the data ends after {len(data) - 8 - n - 100} bytes but the "
                                              rf"tensors declare {len(data) - 8 - n}; the file is truncated"):
        ember.load(Shrunk(data[:-100]))
    assert ember.load(io.BytesIO(data))["w"].shape == (1000,)
