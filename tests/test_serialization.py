"""ember.save / ember.load: format, round trips, atomic writes, errors, interop with torch/NumPy."""
import collections
import gzip
import hashlib
import io
import json
import os
import pathlib
import pickle
import stat
import struct
import zlib

import numpy as np
import pytest

import ember
from ember import interop
from ember.serialization import CheckpointError

ALL_DTYPES = ["float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool"]
ST_CODE = {"float16": "F16", "float32": "F32", "float64": "F64", "uint8": "U8", "int8": "I8",
           "int16": "I16", "int32": "I32", "int64": "I64", "bool": "BOOL"}


def T(a):
    return ember.Tensor._wrap(np.asarray(a))


def rand_array(rng, dtype, shape):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    # every bit pattern: includes nans with payloads, infinities, subnormals, -0.0
    u = np.dtype(f"u{dt.itemsize}")
    return rng.integers(0, np.iinfo(u).max, size=shape, dtype=u, endpoint=True).view(dt)


def assert_same(a, b, path="obj"):
    """Bit-exact structural equality, types included (int keys stay ints, tuples stay tuples)."""
    assert type(a) is type(b), f"{path}: {type(a)} != {type(b)}"
    if isinstance(a, dict):
        assert [(type(k), k) for k in a] == [(type(k), k) for k in b], path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, ember.Tensor):
        assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape), path
        assert np.ascontiguousarray(a._data).tobytes() == b._data.tobytes(), path
        assert bool(a.requires_grad) == bool(b.requires_grad), path
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype.newbyteorder("=") == b.dtype and a.shape == b.shape, path
        assert np.asarray(a).astype(b.dtype).tobytes() == np.asarray(b).tobytes(), path
    elif isinstance(a, float):
        assert struct.pack("<d", a) == struct.pack("<d", b) or (a != a and b != b), path
    else:
        assert a == b, path


def roundtrip(obj):
    buf = io.BytesIO()
    ember.save(obj, buf)
    return ember.load(io.BytesIO(buf.getvalue()))


def raw_bytes(obj):
    buf = io.BytesIO()
    ember.save(obj, buf)
    return buf.getvalue()


def split(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(header, payload, resign=True):
    """Assemble a file; with resign=True recompute ember's checksum (the documented recipe)."""
    header = json.loads(json.dumps(header))
    meta = header.get("__metadata__", {})
    if resign and "ember.sha256" in meta:
        del meta["ember.sha256"]
        canon = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
        meta["ember.sha256"] = hashlib.sha256(b"ember checkpoint v1\n" + canon + b"\n" + payload).hexdigest()
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


def with_len(text):
    return struct.pack("<Q", len(text)) + text


def load_bytes(data):
    return ember.load(io.BytesIO(data))


# ------------------------------------------------------------------------------------ round trips

@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (5,), (3, 4)])
def test_every_dtype_and_shape_round_trips_bit_exact(dtype, shape):
    rng = np.random.default_rng(zlib.crc32(repr((dtype, shape)).encode()))
    t = T(rand_array(rng, dtype, shape))
    out = roundtrip({"t": t})["t"]
    assert isinstance(out, ember.Tensor) and out.dtype == getattr(ember, dtype)
    assert_same(t, out)
    assert out._data.flags.writeable and out._data.flags.c_contiguous


def test_float_special_values_bit_exact():
    bits = np.array([0x7FC00001, 0xFFC12345, 0x7F800000, 0xFF800000, 0x80000000, 0x00000001, 0x7F7FFFFF],
                    dtype=np.uint32)
    t = T(bits.view(np.float32))
    out = roundtrip([t])[0]
    assert out._data.view(np.uint32).tolist() == bits.tolist()


def test_non_contiguous_inputs():
    base = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    views = [base.transpose(2, 0, 1), base[:, ::2, 1::3], base[::-1], np.broadcast_to(base[0, 0], (4, 5))]
    obj = {"t": [T(v) for v in views], "a": views}
    out = roundtrip(obj)
    for v, t, a in zip(views, out["t"], out["a"]):
        np.testing.assert_array_equal(t._data, v)
        np.testing.assert_array_equal(a, v)
        assert t._data.flags.c_contiguous and a.flags.writeable


def test_big_endian_arrays_come_back_native_with_same_values():
    a = np.arange(6, dtype=">i4").reshape(2, 3)
    out = roundtrip(a)
    assert out.dtype == np.dtype("int32") and out.dtype.isnative
    np.testing.assert_array_equal(out, a)


def test_nested_structure_types_preserved():
    rng = np.random.default_rng(0)
    obj = {
        "model": collections.OrderedDict([("fc.weight", T(rng.standard_normal((3, 2)).astype(np.float32))),
                                          ("fc.bias", T(np.zeros(3, np.float32)))]),
        "optimizer": {"state": {0: {"step": T(np.array(3.0, np.float32)), "exp_avg": T(np.ones(2))},
                                1: {}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1],
                                        "amsgrad": False, "foreach": None}]},
        "numbers": [0, -1, 2**80, -(2**70), 1.5, -0.0, float("nan"), float("inf"), float("-inf"), 1e308, 5e-324],
        "strings": ["", "ascii", "ünïcødé ✓ 🔥", "quote\" back\\slash \n tab\t", "\x00", "\ud800"],
        "bytes": [b"", b"\x00\xff" * 3],
        "keys": {1: "int", -5: "neg", 2.5: "float", False: "bool", None: "none", (1, "a"): "tuple", "s": 1},
        "empty": [{}, [], (), ""],
        "np": {"arr": rng.standard_normal(4), "f32": np.float32(1.25), "i8": np.int8(-3), "b": np.bool_(True),
               "f64": np.float64(2.5), "u64": np.uint64(2**64 - 1)},
        "dtypes": [ember.float32, ember.int64, ember.bool, ember.float16],
        "deep": [[[[[[1]]]]]],
        "tuple_root": (1, (2, (3,))),
    }
    out = roundtrip(obj)
    expected = dict(obj, model=dict(obj["model"]))  # OrderedDict comes back as a plain (ordered) dict
    assert_same(expected, out)
    assert list(out["model"]) == ["fc.weight", "fc.bias"]
    assert out["dtypes"][0] is ember.float32


@pytest.mark.parametrize("root", [None, 3, "s", 2.5, [], {}, (), b"x"])
def test_plain_roots(root):
    assert_same(root, roundtrip(root))


def test_str_and_bytes_subclasses_come_back_as_builtins():
    out = roundtrip({np.str_("k"): np.str_("v"), "b": np.bytes_(b"xy")})
    assert out == {"k": "v", "b": b"xy"} and type(out["k"]) is str and type(out["b"]) is bytes


def test_root_tensor_and_array():
    assert_same(T(np.arange(3)), roundtrip(T(np.arange(3))))
    assert_same(np.eye(2), roundtrip(np.eye(2)))


def test_shared_tensors_stored_once_and_stay_shared():
    w = T(np.ones((100, 100), np.float32))
    a = np.zeros(10)
    data = raw_bytes({"enc": w, "dec": w, "x": [a, a]})
    header, payload = split(data)
    assert len(payload) == 100 * 100 * 4 + 80
    out = load_bytes(data)
    assert out["enc"] is out["dec"] and out["x"][0] is out["x"][1]


def test_requires_grad_recorded():
    p = T(np.ones(2, np.float32))
    p.requires_grad = True
    out = roundtrip({"p": p, "q": T(np.ones(2, np.float32))})
    assert out["p"].requires_grad is True and out["q"].requires_grad is False


def test_loaded_data_is_independent_of_the_file_bytes():
    out = roundtrip({"a": T(np.arange(4.0))})
    out["a"]._data[0] = 42.0  # writable, owns its memory
    assert out["a"]._data.base is None or out["a"]._data.base.flags.owndata


# ------------------------------------------------------------------------------------ the format

def test_header_is_safetensors_layout_parsed_by_hand():
    rng = np.random.default_rng(1)
    arrays = {"w": rng.standard_normal((2, 3)).astype(np.float32), "i": np.arange(4, dtype=np.int64),
              "m": np.array([True, False]), "h": rng.standard_normal(3).astype(np.float16),
              "s": np.array(7, np.int32), "e": np.zeros((0,), np.float64)}
    data = raw_bytes({k: T(v) for k, v in arrays.items()})
    n = int.from_bytes(data[:8], "little")
    assert (8 + n) % 8 == 0, "data starts 8-byte aligned"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    payload = data[8 + n:]
    meta = header.pop("__metadata__")
    assert meta["ember.format"] == "1" and meta["ember.version"] == getattr(ember, "__version__", "0.1.0")
    assert all(isinstance(v, str) for v in meta.values())
    assert len(meta["ember.sha256"]) == 64
    assert set(header) == set(arrays)
    ends = sorted(tuple(e["data_offsets"]) for e in header.values())
    assert ends[0][0] == 0 and ends[-1][1] == len(payload)
    assert all(a[1] == b[0] for a, b in zip(ends, ends[1:]))
    for name, arr in arrays.items():
        e = header[name]
        assert e["dtype"] == ST_CODE[arr.dtype.name]
        assert e["shape"] == list(arr.shape)
        b, end = e["data_offsets"]
        assert payload[b:end] == arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    structure = json.loads(meta["ember.structure"])
    assert structure == {"dict": {k: {"tensor": k} for k in arrays}}


def test_nested_tensor_names_are_dotted_paths():
    header, _ = split(raw_bytes({"model": {"fc.weight": T(np.ones(1))}, "opt": {"state": {0: {"m": T(np.ones(1))}}},
                                 "l": [T(np.ones(1)), T(np.ones(1))]}))
    assert set(header) - {"__metadata__"} == {"model.fc.weight", "opt.state.0.m", "l.0", "l.1"}


def test_readable_by_safetensors_package(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(2)
    sd = {f"t{d}": T(rand_array(rng, d, (2, 3))) for d in ALL_DTYPES}
    sd["scalar"] = T(np.array(1.5, np.float32))
    ember.save(sd, tmp_path / "m.ember")
    got = safetensors_numpy.load_file(str(tmp_path / "m.ember"))
    assert set(got) == set(sd)
    for k, t in sd.items():
        assert got[k].dtype == t._data.dtype and got[k].shape == t._data.shape
        assert got[k].tobytes() == t._data.tobytes()


def test_load_safetensors_reads_other_writers_including_bf16(tmp_path):
    # a plain safetensors file (no ember metadata), as other tools write it, built by hand
    f32 = np.array([1.0, -2.5, 2.0**100, -np.inf], np.float32)
    bf16 = (f32.view(np.uint32) >> 16).astype("<u2")  # these values are exact in bfloat16
    i64 = np.arange(3, dtype="<i8")
    header = {"__metadata__": {"format": "pt"},
              "b": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]},
              "i": {"dtype": "I64", "shape": [3], "data_offsets": [8, 32]}}
    data = join(header, bf16.tobytes() + i64.tobytes(), resign=False)
    got = interop.load_safetensors(io.BytesIO(data))
    assert got["b"].dtype == ember.float32 and got["b"]._data.tobytes() == f32.tobytes()
    np.testing.assert_array_equal(got["i"]._data, i64)
    with pytest.raises(CheckpointError, match=r"safetensors file without ember metadata.*load_safetensors"):
        load_bytes(data)
    # an ember file reads as a flat dict of its tensors too
    (tmp_path / "e.ember").write_bytes(raw_bytes({"a": {"b": T(np.ones(2))}}))
    assert list(interop.load_safetensors(tmp_path / "e.ember")) == ["a.b"]


# ------------------------------------------------------------------------------------ paths, atomic writes

def test_paths_and_file_objects(tmp_path):
    obj = {"w": T(np.arange(3.0))}
    ember.save(obj, str(tmp_path / "a.ember"))
    ember.save(obj, tmp_path / "b.ember")
    with open(tmp_path / "c.ember", "wb") as f:
        ember.save(obj, f)
    for name in "abc":
        assert_same(obj, ember.load(tmp_path / f"{name}.ember"))
        assert_same(obj, ember.load(str(tmp_path / f"{name}.ember")))
        with open(tmp_path / f"{name}.ember", "rb") as f:
            assert_same(obj, ember.load(f))
    assert sorted(os.listdir(tmp_path)) == ["a.ember", "b.ember", "c.ember"]  # no temp files left


def test_save_through_symlink_replaces_the_target(tmp_path):
    (tmp_path / "real.ember").write_bytes(b"old")
    os.symlink(tmp_path / "real.ember", tmp_path / "link.ember")
    ember.save({"v": 2}, tmp_path / "link.ember")
    assert os.path.islink(tmp_path / "link.ember")
    assert ember.load(tmp_path / "real.ember") == {"v": 2}


def test_text_mode_and_bad_targets(tmp_path):
    with open(tmp_path / "t.txt", "w") as f, pytest.raises(TypeError, match=r"binary mode \('wb'\)"):
        ember.save({}, f)
    (tmp_path / "t.txt").write_bytes(b"x")
    with open(tmp_path / "t.txt") as f, pytest.raises(TypeError, match=r"binary mode \('rb'\)"):
        ember.load(f)
    with pytest.raises(TypeError, match="must be a path or a binary file object.*'int'"):
        ember.save({}, 3)
    with pytest.raises(TypeError, match="must be a path or a binary file object.*'int'"):
        ember.load(3)
    with pytest.raises(FileNotFoundError, match="folder does not exist.*nope"):
        ember.save({}, tmp_path / "nope" / "x.ember")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        ember.save({}, tmp_path)


def test_missing_file_is_file_not_found(tmp_path):
    p = tmp_path / "missing.ember"
    with pytest.raises(FileNotFoundError, match=r"no such file.*missing\.ember") as e:
        ember.load(p)
    assert e.value.filename == str(p)


def test_atomic_write_sequence_and_mode(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(("fsync", stat.S_ISDIR(os.fstat(fd).st_mode))),
                                                 real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append(("replace", os.path.dirname(a) == str(tmp_path))),
                                                     real_replace(a, b)))
    ember.save({"w": T(np.ones(3))}, tmp_path / "m.ember")
    assert calls == [("fsync", False), ("replace", True), ("fsync", True)]  # file, rename, folder
    mask = os.umask(0o022)
    os.umask(mask)
    assert (os.stat(tmp_path / "m.ember").st_mode & 0o777) == 0o666 & ~mask


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "m.ember"
    ember.save({"v": 1}, target)
    before = target.read_bytes()

    def boom(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space left"):
        ember.save({"v": T(np.ones(1000))}, target)
    monkeypatch.undo()
    assert target.read_bytes() == before and os.listdir(tmp_path) == ["m.ember"]
    # a type error is raised before anything touches the disk
    with pytest.raises(TypeError):
        ember.save({"f": lambda x: x}, target)  # neither storable nor picklable
    assert target.read_bytes() == before and os.listdir(tmp_path) == ["m.ember"]


def test_map_location_and_weights_only():
    data = raw_bytes({"a": T(np.ones(2))})
    assert_same({"a": T(np.ones(2))}, ember.load(io.BytesIO(data), map_location="cpu", weights_only=True))
    assert_same({"a": T(np.ones(2))}, ember.load(io.BytesIO(data), map_location=ember.Tensor._wrap(
        np.ones(1)).device))
    with pytest.raises(ValueError, match="map_location must be None, a device or a device string"):
        ember.load(io.BytesIO(data), map_location={"cuda:0": "cpu"})


# ------------------------------------------------------------------------------------ save-time errors

def test_save_refuses_unknown_types_naming_the_path():
    with pytest.raises(TypeError, match=r"cannot store object of type 'function' at obj\['model'\]\['fn'\]"
                                        r".*pickling it failed too"):
        ember.save({"model": {"w": T(np.ones(1)), "fn": lambda x: x}}, io.BytesIO())
    # other objects are pickled into a marked section, which only weights_only=False loads
    for obj, where in [({"a": [1, {2}]}, r"obj\['a'\]\[1\] \(of type 'set'\)"),
                       ({3: (object(),)}, r"obj\[3\]\[0\] \(of type 'object'\)")]:
        buf = io.BytesIO()
        ember.save(obj, buf)
        with pytest.raises(ember.serialization.UnsafeCheckpointError, match=where + ".*weights_only=False"):
            ember.load(io.BytesIO(buf.getvalue()))
        assert type(ember.load(io.BytesIO(buf.getvalue()), weights_only=False)) is dict


def test_save_refuses_torch_tensors_and_points_to_interop():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"'torch.Tensor' at obj\['w'\]; convert .* ember.interop.from_torch"):
        ember.save({"w": torch.ones(2)}, io.BytesIO())


def test_save_refuses_bad_dtypes_keys_subclasses_cycles():
    with pytest.raises(TypeError, match=r"NumPy array of dtype object at obj\['a'\].*astype"):
        ember.save({"a": np.array([1, "x"], dtype=object)}, io.BytesIO())
    with pytest.raises(TypeError, match=r"dtype datetime64\[D\] at obj\[0\]"):
        ember.save([np.array(["2020-01-01"], dtype="datetime64[D]")], io.BytesIO())
    with pytest.raises(TypeError, match=r"dtype <U1 at obj"):
        ember.save(np.array(["a"]), io.BytesIO())
    with pytest.raises(TypeError, match=r"dict key .*frozenset.* at obj\['d'\]; keys must be str, int"):
        ember.save({"d": {frozenset(): 1}}, io.BytesIO())
    Point = collections.namedtuple("Point", "x y")
    with pytest.raises(TypeError, match=r"'.*Point' at obj\['p'\]; subclasses of tuple .* tuple\(x\)"):
        ember.save({"p": Point(1, 2)}, io.BytesIO())
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"circular reference at obj\[0\]"):
        ember.save(loop, io.BytesIO())
    deep = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper than 200 levels"):
        ember.save(deep, io.BytesIO())


# ------------------------------------------------------------------------------------ load-time errors

def good_file():
    return raw_bytes({"a": T(np.arange(6, dtype=np.float32).reshape(2, 3)), "b": T(np.array([1, 2], np.int64)),
                      "n": 3, "k": {1: "x"}})


def edit(mutate, resign=True):
    header, payload = split(good_file())
    res = mutate(header, payload)
    payload = res if isinstance(res, bytes) else payload
    return join(header, payload, resign)


def test_checkpoint_error_type_and_message():
    e = CheckpointError("/x/y.ember", "bad thing")
    assert isinstance(e, ValueError)
    assert str(e) == "cannot load checkpoint '/x/y.ember': bad thing"
    assert (e.path, e.reason) == ("/x/y.ember", "bad thing")
    e2 = pickle.loads(pickle.dumps(e))  # picklable, e.g. to cross a DataLoader worker queue
    assert str(e2) == str(e)


def test_error_names_the_file_path(tmp_path):
    p = tmp_path / "broken.ember"
    p.write_bytes(good_file()[:-3])
    with pytest.raises(CheckpointError, match=r"cannot load checkpoint '.*broken\.ember': ") as e:
        ember.load(p)
    assert e.value.path == str(p)


LAYOUT_CASES = {
    "empty": (lambda: b"", r"the file is empty"),
    "short": (lambda: b"\x05\x00\x00", r"truncated: 3 bytes is too short for the 8-byte header length"),
    "header beyond file": (lambda: good_file()[:20], r"header length field says \d+ bytes but only 12 bytes follow"),
    "not json object": (lambda: struct.pack("<Q", 4) + b"[1] ", r"header is not a JSON object"),
    "bad utf8": (lambda: with_len(b'{"\xff":1}'), r"not valid UTF-8 \(invalid start byte at byte 10\)"),
    "bad json": (lambda: struct.pack("<Q", 4) + b'{"a"', r"header is not valid JSON"),
    "duplicate key": (lambda: with_len(b'{"__metadata__":{},"__metadata__":{}}'),
                      r"header is not valid JSON: duplicate key '__metadata__'"),
    "nan constant": (lambda: with_len(b'{"a":{"dtype":"F32","shape":[NaN],"data_offsets":[0,0]}}'),
                     r"non-standard JSON constant NaN"),
    "too deep": (lambda: with_len(b'{"a":' + b"[" * 100_000), r"header JSON is nested too deeply"),
    "metadata not object": (lambda: with_len(b'{"__metadata__":[]}'), r"'__metadata__' must map strings to strings"),
}


def test_header_size_limit(monkeypatch):
    monkeypatch.setattr(ember.serialization, "MAX_HEADER_BYTES", 64)
    with pytest.raises(CheckpointError, match=r"the header is \d+ bytes, more than the 64-byte limit"):
        load_bytes(good_file())


@pytest.mark.parametrize("case", list(LAYOUT_CASES))
def test_layout_errors(case):
    make, pattern = LAYOUT_CASES[case]
    with pytest.raises(CheckpointError, match=pattern):
        load_bytes(make())


def _set(name, key, value):
    def f(h, p):
        h[name][key] = value
    return f


ENTRY_CASES = {
    "metadata not str": (lambda h, p: h["__metadata__"].update({"x": 1}), r"'__metadata__' must map strings to strings"),
    "missing key": (lambda h, p: h["a"].pop("shape"), r"tensor 'a': the entry must have exactly the keys"),
    "extra key": (_set("a", "extra", 1), r"tensor 'a': the entry must have exactly the keys"),
    "unknown dtype": (_set("a", "dtype", "F33"), r"tensor 'a': 'F33' is an unknown dtype; ember reads BOOL, C64, F16"),
    "bf16 in ember.load": (_set("a", "dtype", "BF16"), r"'BF16' is a dtype NumPy cannot hold"),
    "negative shape": (_set("a", "shape", [-2, -3]), r"tensor 'a': shape must be a list of non-negative ints"),
    "float shape": (_set("a", "shape", [2.0, 3]), r"shape must be a list of non-negative ints"),
    "bool shape": (_set("a", "shape", [True, 3]), r"shape must be a list of non-negative ints"),
    "offsets form": (_set("a", "data_offsets", [0]), r"data_offsets must be \[begin, end\]"),
    "offsets reversed": (_set("a", "data_offsets", [24, 0]), r"data_offsets must be \[begin, end\]"),
    "offsets past end": (_set("b", "data_offsets", [24, 4000]), r"run past the end of the data \(40 bytes\); the file is truncated"),
    "byte count": (_set("a", "shape", [2, 2]), r"dtype F32 and shape \[2, 2\] need 16 bytes but data_offsets \[0, 24\] span 24"),
    "dtype mismatch": (_set("a", "dtype", "F64"), r"dtype F64 and shape \[2, 3\] need 48 bytes"),
    "overlap": (_set("b", "data_offsets", [16, 32]), r"tensor 'b': data_offsets \[16, 32\] overlaps the previous tensor"),
    "gap": (lambda h, p: h["a"].update(data_offsets=[0, 8], shape=[2]), r"leaves a gap of 16 bytes"),
    "trailing bytes": (lambda h, p: p + b"\x00" * 5, r"5 trailing bytes after the last tensor"),
    "unreferenced": (lambda h, p: (h.update(c={"dtype": "U8", "shape": [2], "data_offsets": [40, 42]}), p + b"ab")[1],
                     r"1 stored tensor\(s\) are not referenced by the structure: 'c'"),
    "missing ember key": (lambda h, p: h["__metadata__"].pop("ember.version"), r"ember metadata lacks 'ember.version'"),
    "plain safetensors": (lambda h, p: h.pop("__metadata__"), r"safetensors file without ember metadata"),
    "newer format": (lambda h, p: h["__metadata__"].update({"ember.format": "7"}),
                     r"format 7 by ember '.*'; this ember reads formats 1 and 2, upgrade ember"),
    "unknown format": (lambda h, p: h["__metadata__"].update({"ember.format": "x"}), r"unknown checkpoint format 'x'"),
}


@pytest.mark.parametrize("case", list(ENTRY_CASES))
def test_header_entry_errors(case):
    mutate, pattern = ENTRY_CASES[case]
    with pytest.raises(CheckpointError, match=pattern):
        load_bytes(edit(mutate))


def test_checksum_detects_payload_and_header_corruption():
    data = bytearray(good_file())
    data[-1] ^= 1  # a payload bit: the file stays well formed, only the checksum can tell
    with pytest.raises(CheckpointError, match="checksum mismatch: the file was corrupted or modified"):
        load_bytes(bytes(data))
    # an edit of the structure without re-signing
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_bytes(edit(lambda h, p: h["__metadata__"].update({"ember.structure": '{"dict":{}}'}), resign=False))


def _structure(s):
    def f(h, p):
        h["__metadata__"]["ember.structure"] = s
    return f


STRUCTURE_CASES = {
    "bad json": ('{"dict":', r"the structure is not valid JSON"),
    "missing tensor": ('{"items":[["a",{"tensor":"a"}],["b",{"tensor":"b"}],["z",{"tensor":"nope"}]]}',
                       r"structure at obj\['z'\]: refers to tensor 'nope', which the file does not contain"),
    "unreferenced": ('{"dict":{"a":{"tensor":"a"}}}', r"not referenced by the structure: 'b'"),
    "unknown node": ('{"dict":{"a":{"tensor":"a"},"b":{"tensor":"b"},"x":{"pickle":"os.system"}}}',
                     r"structure at obj\['x'\]: unexpected JSON node"),
    "two tags": ('{"dict":{"a":{"tensor":"a","ndarray":"b"}}}', r"unexpected JSON node"),
    "bad ref type": ('{"dict":{"a":{"tensor":5},"b":{"tensor":"b"}}}', r"obj\['a'\]: a tensor reference must be a tensor name"),
    "inconsistent": ('{"dict":{"a":{"tensor":"a"},"b":{"ndarray":"a"},"c":{"tensor":"b"}}}',
                     r"obj\['b'\]: tensor 'a' is referenced twice inconsistently"),
    "scalar shape": ('{"dict":{"a":{"np_scalar":"a"},"b":{"tensor":"b"}}}', r"NumPy scalar must be stored as a 0-d tensor"),
    "bytes dtype": ('{"dict":{"a":{"bytes":"a"},"b":{"tensor":"b"}}}', r"bytes must be stored as a 1-d U8 tensor"),
    "unknown dtype": ('{"dict":{"a":{"tensor":"a"},"b":{"tensor":"b"},"d":{"dtype":"complex32"}}}',
                      r"obj\['d'\]: unknown ember dtype 'complex32'"),
    "list key": ('{"items":[[[1],2],["a",{"tensor":"a"}],["b",{"tensor":"b"}]]}', r"a dict key cannot be a list"),
    "tensor key": ('{"items":[[{"tensor":"a"},2],["b",{"tensor":"b"}]]}', r"a dict key cannot be a 'tensor' node"),
    "bad item": ('{"items":[[1,2,3]]}', r"a dict item must be a \[key, value\] pair"),
    "duplicate item key": ('{"items":[[1,2],[1,3]]}', r"duplicate dict key 1"),
    "bad float tag": ('{"float":"1.5"}', r"unexpected JSON node"),
    "tuple not list": ('{"tuple":{"a":1}}', r"unexpected JSON node"),
    "grad flag false": ('{"dict":{"a":{"tensor":"a","requires_grad":false},"b":{"tensor":"b"}}}', r"unexpected JSON node"),
    "json nan": ('[NaN]', r"non-standard JSON constant NaN"),
    "too deep": ('[' * 500 + ']' * 500, r"nested deeper than 200 levels"),
}


@pytest.mark.parametrize("case", list(STRUCTURE_CASES))
def test_structure_errors(case):
    s, pattern = STRUCTURE_CASES[case]
    with pytest.raises(CheckpointError, match=pattern):
        load_bytes(edit(_structure(s)))


def test_bool_payload_must_be_zero_or_one():
    data = raw_bytes({"m": T(np.array([True, False, True]))})
    header, payload = split(data)
    with pytest.raises(CheckpointError, match=r"tensor 'm': BOOL data holds bytes other than 0 and 1"):
        load_bytes(join(header, b"\x01\x02\x00"))


class _Exploit:
    marker = None

    def __reduce__(self):  # unpickling this would create a file: the proof that code ran
        return (open, (self.marker, "w"))


def test_foreign_files_are_refused_without_running_code(tmp_path):
    torch = pytest.importorskip("torch")
    sd = {"w": torch.ones(2)}
    torch.save(sd, tmp_path / "zip.pt")
    torch.save(sd, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    _Exploit.marker = str(tmp_path / "pwned")
    (tmp_path / "exploit.pkl").write_bytes(pickle.dumps({"x": _Exploit()}, protocol=4))
    np.save(tmp_path / "a.npy", np.ones(3))
    (tmp_path / "g.gz").write_bytes(gzip.compress(good_file()))
    expect = {"zip.pt": r"a zip archive \(this is what torch\.save writes\)", "legacy.pt": r"this is a pickle file",
              "exploit.pkl": r"this is a pickle file", "a.npy": r"a NumPy \.npy file", "g.gz": r"a gzip file"}
    for name, pattern in expect.items():
        with pytest.raises(CheckpointError, match=pattern) as e:
            ember.load(tmp_path / name)
        if name != "g.gz" and name != "a.npy":
            assert "refuses to load pickle data" in str(e.value)
            assert "ember.interop.from_torch(torch.load(path, weights_only=True))" in str(e.value)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(CheckpointError, match="header length field says"):
        load_bytes(b"just some text, not a checkpoint")


def test_header_length_that_looks_like_a_magic_is_still_read_as_a_checkpoint():
    # a header of 0x280 bytes starts the file with b"\x80\x02", the pickle protocol-2 magic
    seen = set()
    for pad in range(0, 600, 3):
        data = raw_bytes({"s": "x" * pad, "t": T(np.ones(3))})
        seen.add(data[:2])
        assert_same({"s": "x" * pad, "t": T(np.ones(3))}, load_bytes(data))
    assert b"\x80\x02" in seen


def test_whitespace_changes_in_header_are_harmless():
    header, payload = split(good_file())
    text = json.dumps(header, indent=2).encode()  # same content, different bytes
    out = load_bytes(struct.pack("<Q", len(text)) + text + payload)
    assert_same(load_bytes(good_file()), out)


# ------------------------------------------------------------------------------------ interop

def _torch_model(torch):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                            torch.nn.Embedding(5, 3), torch.nn.Linear(3, 2, bias=False))
    m[1].running_mean.normal_()
    m[1].num_batches_tracked += 7
    m[3].weight.data[0, 0] = float("nan")
    return m


def test_torch_state_dict_round_trip_bit_identical(tmp_path):
    torch = pytest.importorskip("torch")
    m = _torch_model(torch)
    sd = m.state_dict()
    e = interop.from_torch(sd)
    assert type(e) is collections.OrderedDict and list(e) == list(sd)
    assert all(isinstance(v, ember.Tensor) for v in e.values())
    assert e["1.num_batches_tracked"].dtype == ember.int64 and e["1.num_batches_tracked"].shape == ()
    ember.save(e, tmp_path / "m.ember")
    back = interop.to_torch(ember.load(tmp_path / "m.ember"))
    m2 = _torch_model(torch)
    for p in m2.parameters():
        p.data.zero_()
    m2.load_state_dict(back)
    for k, v in m2.state_dict().items():
        assert v.dtype == sd[k].dtype and v.shape == sd[k].shape
        assert v.numpy().tobytes() == sd[k].numpy().tobytes(), k


def test_torch_optimizer_state_round_trip(tmp_path):
    torch = pytest.importorskip("torch")
    m = _torch_model(torch)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.8, 0.99))
    m.train()
    for _ in range(2):
        opt.zero_grad()
        m[0](torch.randn(3, 4)).sum().backward()
        opt.step()
    sd = opt.state_dict()
    ember.save(interop.from_torch(sd), tmp_path / "o.ember")
    loaded = ember.load(tmp_path / "o.ember")
    assert set(loaded["state"]) == {0, 1} and loaded["param_groups"][0]["betas"] == (0.8, 0.99)
    opt2 = torch.optim.Adam(_torch_model(torch).parameters())
    opt2.load_state_dict(interop.to_torch(loaded))
    sd2 = opt2.state_dict()
    assert sd2["param_groups"] == sd["param_groups"]
    for i, st in sd["state"].items():
        for k, v in st.items():
            assert torch.equal(sd2["state"][i][k], v) and sd2["state"][i][k].dtype == v.dtype


def test_torch_interop_details():
    torch = pytest.importorskip("torch")
    w = torch.arange(6.0).reshape(2, 3)
    src = {"a": w, "tied": w, "t": w.t(), "dt": torch.float16, "size": torch.Size([2, 3]), "n": 1,
           "nested": [(w[:, 1],)]}
    e = interop.from_torch(src)
    assert e["a"] is e["tied"]  # sharing kept
    np.testing.assert_array_equal(e["t"]._data, w.t().numpy())
    assert e["dt"] is ember.float16 and e["size"] == (2, 3) and type(e["size"]) is tuple
    assert isinstance(e["nested"][0], tuple)
    e["a"]._data[0, 0] = 99.0
    assert w[0, 0] == 0.0  # a copy, not a view
    back = interop.to_torch(e)
    assert back["dt"] is torch.float16 and back["a"] is back["tied"] and torch.equal(back["t"], w.t())
    with pytest.raises(TypeError, match=r"tensor at obj\['x'\] has dtype torch.bfloat16.*\.float\(\)"):
        interop.from_torch({"x": torch.ones(2, dtype=torch.bfloat16)})
    with pytest.raises(TypeError, match=r"obj\[0\] is torch.sparse_coo.*to_dense"):
        interop.from_torch([torch.eye(2).to_sparse()])
    dd = collections.defaultdict(list, a=[torch.ones(1)])
    out = interop.from_torch(dd)
    assert type(out) is collections.defaultdict and out.default_factory is list


def test_missing_torch_gives_clear_error(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"ember.interop.to_torch needs PyTorch.*pip install torch"):
        interop.to_torch({})
    with pytest.raises(ImportError, match=r"ember.interop.from_torch needs PyTorch"):
        interop.from_torch({})


def test_numpy_interop_round_trip():
    rng = np.random.default_rng(3)
    src = {"w": rng.standard_normal((2, 2)), "i": [np.arange(3, dtype=np.int16)], "s": np.float32(2), "dt": np.dtype("int8")}
    e = interop.from_numpy(src)
    assert isinstance(e["w"], ember.Tensor) and e["i"][0].dtype == ember.int16
    assert e["s"] is src["s"] and e["dt"] is ember.int8
    back = interop.to_numpy(e)
    assert_same(src["w"], back["w"])
    assert back["w"] is not src["w"] and back["dt"] == np.dtype("int8")
    assert interop.from_numpy({"c": np.ones(1, complex)})["c"].dtype == ember.complex128
    with pytest.raises(TypeError, match=r"from_numpy: the array at obj\['c'\]: ember has no dtype for NumPy's complex256"):
        interop.from_numpy({"c": np.ones(1, np.clongdouble)})


def test_pathlib_and_bytes_paths(tmp_path):
    ember.save([1], os.fsencode(tmp_path / "b.ember"))
    assert ember.load(pathlib.Path(tmp_path / "b.ember")) == [1]


def test_optimizer_and_rng_resume_is_bit_exact(tmp_path):
    optim = pytest.importorskip("ember.optim")
    ember.manual_seed(0)
    init = [ember.randn(3, 4), ember.zeros(4)]

    def run(params, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            x = ember.randn(2, 3)
            ((x @ params[0] + params[1]) ** 2).sum().backward()
            opt.step()

    params = [t.clone().requires_grad_() for t in init]
    opt = optim.Adam(params, lr=0.1)
    run(params, opt, 3)
    ember.save({"params": params, "opt": opt.state_dict(), "rng": ember.get_rng_state()}, tmp_path / "c.ember")
    run(params, opt, 3)
    expected = [p._data.copy() for p in params]

    ckpt = ember.load(tmp_path / "c.ember")
    params2 = [p.detach().clone().requires_grad_() for p in ckpt["params"]]
    opt2 = optim.Adam(params2, lr=0.5)
    opt2.load_state_dict(ckpt["opt"])
    ember.set_rng_state(ckpt["rng"])
    run(params2, opt2, 3)
    for a, b in zip(expected, params2):
        assert a.tobytes() == b._data.tobytes()


def test_torch_weights_drive_an_ember_layer():
    torch = pytest.importorskip("torch")
    nn = pytest.importorskip("ember.nn")
    torch.manual_seed(0)
    tl = torch.nn.Linear(5, 3)
    el = nn.Linear(5, 3)
    el.load_state_dict(interop.from_torch(tl.state_dict()))
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_allclose(el(ember.tensor(x)).detach().numpy(), tl(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-6)
    back = interop.to_torch(el.state_dict())
    for k, v in tl.state_dict().items():
        assert torch.equal(back[k], v)
