"""Fuzz ember.load with mutated checkpoints.

Every mutant must either raise CheckpointError or load to content bit-identical to what was
saved; no other exception may escape. Mutations of the raw tensor bytes leave a well-formed
file, so this holds only because ember stores a SHA-256 of header and data in the metadata.
"""
import hashlib
import io
import json
import random
import struct
import time

import numpy as np
import pytest

import ember
from ember.serialization import CheckpointError

SEED = 20240611
N_RAW = 24000      # byte-level mutants
N_HEADER = 4800    # JSON-level header edits
N_STRUCT = 3000    # re-signed structure edits (robustness against crafted files)


def T(a):
    return ember.Tensor._wrap(np.asarray(a))


def same(a, b):
    """Bit-exact structural equality, types included."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return ([(type(k), k) for k in a] == [(type(k), k) for k in b]
                and all(same(a[k], b[k]) for k in a))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, ember.Tensor):
        return (a.dtype == b.dtype and a._data.shape == b._data.shape and a._data.tobytes() == b._data.tobytes()
                and bool(a.requires_grad) == bool(b.requires_grad))
    if isinstance(a, (np.ndarray, np.generic)):
        return a.dtype == b.dtype and a.shape == b.shape and np.asarray(a).tobytes() == np.asarray(b).tobytes()
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return a == b


def base_objects():
    rng = np.random.default_rng(SEED)
    p = T(rng.standard_normal(3).astype(np.float32))
    p.requires_grad = True
    return [
        {"fc.weight": T(rng.standard_normal((4, 3)).astype(np.float32)), "fc.bias": T(np.zeros(4, np.float32)),
         "bn.num_batches_tracked": T(np.array(7, np.int64))},
        {"state": {0: {"step": T(np.array(2.0, np.float32)), "exp_avg": T(rng.standard_normal(5))},
                   1: {"momentum_buffer": None}},
         "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False}]},
        {"epoch": 3, "global_step": 1200, "loss": float("nan"), "best": -float("inf"), "name": "run ✓",
         "mask": T(np.array([True, False, True])), "u8": T(np.arange(10, dtype=np.uint8)),
         "i16": T(np.array([-3, 7], np.int16)), "f16": T(np.array([1.5, -0.0], np.float16)),
         "empty": T(np.zeros((0, 4), np.int32)), "np": np.arange(6, dtype=np.int8).reshape(2, 3),
         "scalar": np.float64(0.25), "dtype": ember.bool, "blob": b"\x00\x01\xfe", "p": p},
        [p, p, (1, 2.5, "x", None, [T(np.ones((2, 2)))]), {2.5: 1, None: 2, (1, 2): 3}],
    ]


def raw_mutations(rng, data):
    size = len(data)
    n = min(struct.unpack("<Q", data[:8])[0], size - 8)  # an earlier mutation may have broken it
    op = rng.randrange(10)
    if (op in (1, 9) and n < 1) or (op == 2 and size == 8 + n):
        op = 0
    b = bytearray(data)
    if op == 0:  # bit flip anywhere
        i = rng.randrange(size)
        b[i] ^= 1 << rng.randrange(8)
    elif op == 1:  # bit flip inside the header text
        i = rng.randrange(8, 8 + n)
        b[i] ^= 1 << rng.randrange(8)
    elif op == 2:  # bit flip inside the data
        i = rng.randrange(8 + n, size)
        b[i] ^= 1 << rng.randrange(8)
    elif op == 3:  # random byte value
        b[rng.randrange(size)] = rng.randrange(256)
    elif op == 4:  # truncation
        del b[rng.randrange(size):]
    elif op == 5:  # insertion
        i = rng.randrange(size + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif op == 6:  # deletion
        i = rng.randrange(size)
        del b[i:i + rng.randint(1, 16)]
    elif op == 7:  # change the header length field
        b[:8] = struct.pack("<Q", max(0, n + rng.choice([-9, -8, -1, 1, 8, 9, rng.randrange(-n, 4 * n)])))
    elif op == 8:  # duplicate a chunk somewhere else
        i, j = rng.randrange(size), rng.randrange(size)
        b[j:j] = b[i:i + rng.randint(1, 32)]
    else:  # change a digit or a quote in the header, keeping the length
        text = b[8:8 + n]
        spots = [k for k, c in enumerate(text) if c in b'0123456789"'] or [0]
        k = 8 + rng.choice(spots)
        b[k] = rng.choice(b'0123456789" ')
    return bytes(b)


def header_edit(rng, data):
    """A JSON-level edit of the header, written back with a correct length but NOT re-signed."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    payload = data[8 + n:]
    meta = header["__metadata__"]
    names = [k for k in header if k != "__metadata__"]
    op = rng.randrange(9)
    name = rng.choice(names) if names else None
    if op == 0 and name:
        header[name]["dtype"] = rng.choice(["F32", "F64", "F16", "I64", "I32", "U8", "I8", "I16", "BOOL", "BF16"])
    elif op == 1 and name:
        shape = header[name]["shape"]
        header[name]["shape"] = shape[::-1] if len(shape) > 1 else shape + [1]
    elif op == 2 and len(names) > 1:  # swap two tensors' data
        a, c = rng.sample(names, 2)
        header[a]["data_offsets"], header[c]["data_offsets"] = header[c]["data_offsets"], header[a]["data_offsets"]
    elif op == 3 and name:
        header[name.upper() + "_" if name.upper() in header else name.upper()] = header.pop(name)
    elif op == 4:  # edit a number or a name inside the structure
        s = meta["ember.structure"]
        digits = [k for k, ch in enumerate(s) if ch.isdigit()]
        if digits:
            k = rng.choice(digits)
            s = s[:k] + str((int(s[k]) + rng.randint(1, 9)) % 10) + s[k + 1:]
        meta["ember.structure"] = s
    elif op == 5:
        meta.pop(rng.choice(sorted(meta)))
    elif op == 6:
        meta[rng.choice(["ember.version", "ember.extra", "format"])] = "9.9"
    elif op == 7 and name:
        header.pop(name)
    else:  # reorder entries and reformat: same content, so it must load unchanged
        items = list(header.items())
        rng.shuffle(items)
        text = json.dumps(dict(items), indent=rng.choice([None, 1, 2])).encode()
        return struct.pack("<Q", len(text)) + text + payload
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


@pytest.fixture(scope="module")
def originals():
    out = []
    for obj in base_objects():
        buf = io.BytesIO()
        ember.save(obj, buf)
        data = buf.getvalue()
        loaded = ember.load(io.BytesIO(data))
        out.append((data, loaded))
    return out


def check(mutant, original, label):
    try:
        got = ember.load(io.BytesIO(mutant))
    except CheckpointError:
        return "rejected"
    except Exception as e:  # noqa: BLE001 - the point: nothing else may escape
        pytest.fail(f"{label}: {type(e).__name__} escaped ember.load: {e}\nmutant={mutant[:300]!r}")
    assert same(got, original), f"{label}: a mutant loaded with changed content\nmutant={mutant[:300]!r}"
    return "identical"


def test_originals_round_trip(originals):
    for obj, (_, loaded) in zip(base_objects(), originals):
        assert same(obj, loaded)
    assert originals[3][1][0] is originals[3][1][1]


def test_fuzz_raw_byte_mutations(originals):
    rng = random.Random(SEED)
    counts = {"rejected": 0, "identical": 0}
    t0 = time.perf_counter()
    for i in range(N_RAW):
        data, loaded = originals[i % len(originals)]
        mutant = data
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            mutant = raw_mutations(rng, mutant) if len(mutant) > 8 else mutant + b"\x00"
        if mutant == data:
            continue
        counts[check(mutant, loaded, f"raw mutant {i}")] += 1
    assert counts["rejected"] > 0.9 * N_RAW, counts
    assert time.perf_counter() - t0 < 60


def test_fuzz_header_edits(originals):
    rng = random.Random(SEED + 1)
    counts = {"rejected": 0, "identical": 0}
    for i in range(N_HEADER):
        data, loaded = originals[i % len(originals)]
        counts[check(header_edit(rng, data), loaded, f"header edit {i}")] += 1
    # reformatted/reordered headers load unchanged; every real edit is rejected
    assert counts["identical"] > 0 and counts["rejected"] > 0.7 * N_HEADER, counts


def resign(header, payload):
    """What an attacker can do: recompute the checksum after editing (the documented recipe)."""
    meta = header["__metadata__"]
    meta.pop("ember.sha256", None)
    canon = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    meta["ember.sha256"] = hashlib.sha256(b"ember checkpoint v1\n" + canon + b"\n" + payload).hexdigest()
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


def test_fuzz_resigned_structure_never_crashes(originals):
    """A crafted file with a valid checksum may hold anything; its structure must still yield either
    CheckpointError or a successful load, never another exception."""
    rng = random.Random(SEED + 3)
    alphabet = '{}[]",:0123456789.-eE tensordarrayitemsfloatdictupleby_scalarqugfnNIT\\'
    counts = {"rejected": 0, "loaded": 0}
    for i in range(N_STRUCT):
        data, _ = originals[i % len(originals)]
        n = struct.unpack("<Q", data[:8])[0]
        header, payload = json.loads(data[8:8 + n]), data[8 + n:]
        s = header["__metadata__"]["ember.structure"]
        for _ in range(rng.randint(1, 3)):
            k = rng.randrange(len(s) + 1)
            op = rng.randrange(3)
            if op == 0:
                s = s[:k] + rng.choice(alphabet) + s[k + 1:]
            elif op == 1:
                s = s[:k] + rng.choice(alphabet) + s[k:]
            else:
                s = s[:k] + s[k + rng.randint(1, 6):]
        header["__metadata__"]["ember.structure"] = s
        try:
            ember.load(io.BytesIO(resign(header, payload)))
            counts["loaded"] += 1
        except CheckpointError:
            counts["rejected"] += 1
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"structure {s!r}: {type(e).__name__} escaped ember.load: {e}")
    assert counts["rejected"] > 0 and counts["loaded"] > 0, counts


def test_fuzz_resigned_layout_breakage(originals):
    """Edits that break the layout stay rejected even when the checksum is recomputed."""
    rng = random.Random(SEED + 2)
    total = 0
    for i in range(600):
        data, _ = originals[i % len(originals)]
        n = struct.unpack("<Q", data[:8])[0]
        header, payload = json.loads(data[8:8 + n]), data[8 + n:]
        names = [k for k in header if k != "__metadata__"]
        name = rng.choice(names)
        b, e = header[name]["data_offsets"]
        op = i % 4
        if op == 0:
            header[name]["data_offsets"] = [b, e + rng.randint(1, 9)]                   # size mismatch/overlap
        elif op == 1:
            header[name]["data_offsets"] = [b + 1, e + 1]                               # misaligned cover
        elif op == 2:
            payload = payload + bytes(rng.randint(1, 9))                                # trailing bytes
        else:
            header[name]["shape"] = header[name]["shape"] + [rng.randint(2, 5)]         # byte count
        with pytest.raises(CheckpointError):
            ember.load(io.BytesIO(resign(header, payload)))
        total += 1
    assert total == 600
    assert N_RAW + N_HEADER + N_STRUCT + total >= 10_000


class _Stream:
    """A non-seekable binary stream (a pipe, a socket): the reader cannot know the size up front."""

    def __init__(self, data):
        self._b = io.BytesIO(data)

    def read(self, n=-1):
        return self._b.read(min(n, 7) if n is not None and n > 0 else n)  # short reads, as pipes give

    def seekable(self):
        return False


def test_fuzz_streams_and_files_agree(originals):
    """The same mutants read from a stream of unknown size (header first, then only the bytes the header
    declares): every one is a CheckpointError or an identical load, exactly as from a seekable file."""
    rng = random.Random(SEED + 4)
    counts = {"rejected": 0, "identical": 0}
    for i in range(3000):
        data, loaded = originals[i % len(originals)]
        mutant = data
        for _ in range(rng.choice([1, 1, 2])):
            mutant = raw_mutations(rng, mutant) if len(mutant) > 8 else mutant + b"\x00"
        outcome = []
        for src in (io.BytesIO(mutant), _Stream(mutant)):
            try:
                got = ember.load(src)
            except CheckpointError:
                outcome.append("rejected")
                continue
            except Exception as e:  # noqa: BLE001
                pytest.fail(f"mutant {i} via {type(src).__name__}: {type(e).__name__} escaped: {e}")
            assert same(got, loaded), f"mutant {i} via {type(src).__name__} loaded with changed content"
            outcome.append("identical")
        assert outcome[0] == outcome[1], (i, outcome, mutant[:200])
        counts[outcome[0]] += 1
    assert counts["rejected"] > 2000, counts


def test_fuzz_header_length_field(originals):
    """Any value of the 8-byte length field, on any prefix of a file: a CheckpointError (or, for the true
    length on the whole file, the original), never another exception or a read beyond the header."""
    rng = random.Random(SEED + 5)
    data, loaded = originals[0]
    n = struct.unpack("<Q", data[:8])[0]
    values = [0, 1, 2, n - 1, n, n + 1, len(data), 2 ** 63, 2 ** 64 - 1] + [rng.randrange(2 ** 64) for _ in range(40)]
    for v in values:
        for cut in (len(data), 8 + n, 8 + n // 2, 9, 8):
            mutant = struct.pack("<Q", v) + data[8:cut]
            try:
                got = ember.load(io.BytesIO(mutant))
            except CheckpointError:
                continue
            assert v == n and cut == len(data) and same(got, loaded), (v, cut)
