"""Secure checkpoints: ``ember.save`` / ``ember.load`` in the safetensors layout.

A file written by :func:`save` is a plain safetensors file, so any safetensors reader can
read its tensors::

    [8 bytes]  N, the header length, unsigned little-endian
    [N bytes]  UTF-8 JSON header, padded with spaces so the data starts 8-byte aligned:
               {"__metadata__": {str: str, ...},
                "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
    [rest]     the tensors' raw little-endian bytes, back to back, covering the rest exactly

ember keeps everything else in ``__metadata__``:

* ``ember.format``   -- the format version (``"1"``),
* ``ember.version``  -- the ember version that wrote the file,
* ``ember.structure`` -- the saved object as JSON: dicts (str *or* int keys), lists, tuples,
  None, bool, int, float (nan/inf included), str, bytes, ember Tensors, NumPy arrays and scalars,
  ember dtypes; tensor leaves name the tensor that holds their data,
* ``ember.sha256``   -- a SHA-256 over the canonical header (without this field) and the data.

Objects that are none of those (a whole ``nn.Module``, an optimizer, any class instance) are
saved as torch saves them, with pickle, but kept apart: such a subtree becomes a
``{"pickle": <name>, "type": "module.Class"}`` node whose bytes are a U8 tensor, its tensors are
still stored as raw tensors (referenced from the pickle by name), and ``__metadata__`` carries
``ember.pickle = "1"``. :func:`load` refuses such files unless called with
``weights_only=False`` (as torch >= 2.6), because unpickling can execute arbitrary code.

Loading with the default ``weights_only=True`` never executes code: no pickle, only JSON and raw
numbers (unless you allowlist classes with :func:`add_safe_globals` / :func:`safe_globals`, as in torch:
then pickled sections load with an unpickler that resolves only those globals). The reader takes regular files only and checks the header (its length against the file's
size, every entry, the data size it declares against the bytes left) before it reads the data. Every
malformed, truncated, corrupted or foreign file raises :class:`CheckpointError`. The checksum
is what makes that promise hold for corrupted data bytes too: flipping a bit in a tensor's
payload yields a perfectly well-formed file, and only the checksum can tell it changed. So a
file either loads to exactly what was saved or raises ``CheckpointError``.

Example::

    >>> ember.save({"model": model.state_dict(), "epoch": 3}, "ckpt.ember")
    >>> ckpt = ember.load("ckpt.ember")
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import struct
import sys

import numpy as np

__all__ = ["save", "load", "load_safetensors", "CheckpointError", "UnsafeCheckpointError", "add_safe_globals",
           "clear_safe_globals", "get_safe_globals", "safe_globals"]

FORMAT_VERSION = 1
# Files holding complex128 arrays are written as format 2 (an older reader must not load their float64
# pairs as real tensors); every other file stays format 1. This ember reads both.
FORMAT_COMPLEX128 = 2
MAX_HEADER_BYTES = 100_000_000  # the limit the reference safetensors reader uses as well
MAX_DEPTH = 200                 # nesting depth of saved structures
_KEY_FORMAT = "ember.format"
_KEY_VERSION = "ember.version"
_KEY_STRUCTURE = "ember.structure"
_KEY_CHECKSUM = "ember.sha256"
_KEY_PICKLE = "ember.pickle"    # "1" when the structure holds pickled objects (weights_only=False to load)
_KEY_COMPLEX128 = "ember.complex128"  # JSON list of the arrays stored as F64 (real, imaginary) pairs
_EMBER_KEYS = (_KEY_FORMAT, _KEY_VERSION, _KEY_STRUCTURE, _KEY_CHECKSUM)
_HASH_PREFIX = b"ember checkpoint v1\n"

# safetensors dtype code <-> NumPy (kind, itemsize). Byte order is always little-endian on disk.
_ST_TO_NP = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
    "U16": np.dtype(np.uint16), "I16": np.dtype(np.int16), "F16": np.dtype(np.float16),
    "U32": np.dtype(np.uint32), "I32": np.dtype(np.int32), "F32": np.dtype(np.float32),
    "U64": np.dtype(np.uint64), "I64": np.dtype(np.int64), "F64": np.dtype(np.float64),
    "C64": np.dtype(np.complex64),  # safetensors' code for complex64 (two float32s); it has none for complex128
}
_NP_TO_ST = {(d.kind, d.itemsize): code for code, d in _ST_TO_NP.items()}
_ST_ITEMSIZE = {code: d.itemsize for code, d in _ST_TO_NP.items()}
_ST_ITEMSIZE["BF16"] = 2  # read by load_safetensors only (widened exactly to float32)
# Foreign types that other safetensors writers use; named in errors rather than "unknown".
_ST_FOREIGN = {"BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C128"}



# ---- torch's allowlist for ``weights_only`` loads of pickled objects -----------------------------
#
# By default ember.load(weights_only=True) never unpickles. Once the user allowlists globals
# (``add_safe_globals([MyModel, nn.Linear])`` or the ``safe_globals([...])`` context manager, as in
# torch >= 2.4), a pickled section loads with a restricted unpickler that resolves only those
# globals plus the plain containers torch's weights-only unpickler also allows; any other global
# refuses the file, naming the global to allow.

_USER_SAFE_GLOBALS = {}  # insertion-ordered set (dict keys), as torch keeps a set
_DEFAULT_SAFE = {("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"),
                 ("builtins", "complex"), ("builtins", "slice"), ("collections", "OrderedDict"),
                 ("collections", "Counter"), ("_codecs", "encode")}


def _check_safe_globals(entries, who):
    if not isinstance(entries, (list, tuple)):
        raise TypeError(f"{who}: expected a list of classes/functions (or (object, 'module.name') pairs), got "
                        f"{_type_name(entries)!r}")
    for e in entries:
        if isinstance(e, tuple):
            if len(e) != 2 or not isinstance(e[1], str):
                raise TypeError(f"{who}: a tuple entry must be (object, 'module.name'), got {e!r:.100}")
        elif not (hasattr(e, "__module__") and hasattr(e, "__qualname__")):
            raise TypeError(f"{who}: {e!r:.100} is not a class or function; allowlist the class or function "
                            "that the pickle names, e.g. add_safe_globals([MyModel])")
    return list(entries)


def add_safe_globals(safe_globals):
    """Allow these classes/functions (or ``(object, "module.name")`` pairs) when ``ember.load`` with
    ``weights_only=True`` meets pickled objects (a whole saved module): ember then unpickles them,
    resolving only allowlisted globals. Only list classes from code you trust."""
    _USER_SAFE_GLOBALS.update(dict.fromkeys(_check_safe_globals(safe_globals, "add_safe_globals")))


def clear_safe_globals():
    """Forget every global added with :func:`add_safe_globals`."""
    _USER_SAFE_GLOBALS.clear()


def get_safe_globals():
    """The globals added with :func:`add_safe_globals` (a new list)."""
    return list(_USER_SAFE_GLOBALS)


class safe_globals:
    """Context manager: :func:`add_safe_globals` on entry; on exit these globals are removed again
    (as in torch, also when they had been added before the block).

    >>> with ember.serialization.safe_globals([MyModel, ember.nn.Linear]):
    ...     model = ember.load("model.pt")
    """

    def __init__(self, safe_globals):
        self.safe_globals = _check_safe_globals(safe_globals, "safe_globals")

    def __enter__(self):
        _USER_SAFE_GLOBALS.update(dict.fromkeys(self.safe_globals))

    def __exit__(self, *exc):
        for g in self.safe_globals:
            _USER_SAFE_GLOBALS.pop(g, None)
        return False


def _allowed_globals():
    allowed = {}
    for e in _USER_SAFE_GLOBALS:
        obj, name = (e[0], e[1]) if isinstance(e, tuple) else (e, f"{e.__module__}.{e.__qualname__}")
        mod, _, qual = name.rpartition(".")
        allowed[(mod, qual)] = obj
    return allowed


class CheckpointError(ValueError):
    """A file that ``ember.load`` refuses: malformed, truncated, corrupted or not an ember checkpoint.

    ``err.path`` is the file, ``err.reason`` says what is wrong with it.
    """

    def __init__(self, path, reason):
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self):
        return f"cannot load checkpoint {self.path!r}: {self.reason}"


class UnsafeCheckpointError(CheckpointError, __import__("pickle").UnpicklingError):
    """``ember.load(f)`` with ``weights_only=True`` (the default) met pickled objects in ``f``.

    Unpickling can execute arbitrary code, so it happens only with ``weights_only=False``. A
    ``CheckpointError`` and a ``pickle.UnpicklingError`` (what torch raises), so either
    ``except`` catches it.
    """


# ----------------------------------------------------------------------------------------------
# helpers that touch the core lazily (serialization is imported by ember/__init__)

def _tensor_cls():
    from ._tensor import Tensor
    return Tensor


def _dtype_mod():
    from . import _dtype
    return _dtype


def _is_ember_dtype(x):
    return isinstance(x, _dtype_mod().dtype)


def _dtype_by_name(name):
    return _dtype_mod()._by_name.get(name) if isinstance(name, str) else None


def _host(array):
    """The array as a NumPy array (CUDA arrays are copied to the host)."""
    if type(array) is np.ndarray:
        return array
    from ._backend import to_device
    return np.asarray(to_device(array, "cpu"))


def _ember_version():
    try:
        from . import __version__
        return str(__version__)
    except ImportError:
        try:
            from importlib.metadata import version
            return version("ember")
        except Exception:  # noqa: BLE001 - the version is informative only
            return "unknown"


def _fmt_path(parts):
    return "obj" + "".join(f"[{p!r}]" for p in parts)


def _canonical(header):
    import json
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


# ----------------------------------------------------------------------------------------------
# save

class _Encoder:
    """Turns a nested object into a JSON-able structure plus a list of arrays to store."""

    def __init__(self, pickle_protocol=2):
        self.pickle_protocol = pickle_protocol
        self.pickled = False      # True once an object went to a pickle section
        self.complex128 = []      # names of the complex128 arrays, stored as float64 (real, imaginary) pairs
        self.arrays = []          # (name, contiguous little-endian ndarray)
        self.names = set()
        self.by_id = {}           # id(tensor or ndarray) -> name, so shared tensors are stored once
        self.active = set()       # ids of the containers on the current path (cycle detection)

    def _name_for(self, parts):
        base = ".".join(str(p) for p in parts) or "tensor"
        try:
            base.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: other readers reject those in JSON
            base = f"tensor{len(self.arrays)}"
        name, k = base, 2
        while name in self.names or name == "__metadata__":
            name, k = f"{base}#{k}", k + 1
        self.names.add(name)
        return name

    def _store(self, arr, parts, what):
        arr = np.asarray(arr)
        pair = arr.dtype.kind == "c" and arr.dtype.itemsize == 16  # complex128: float64 (real, imaginary) pairs
        code = "F64" if pair else _NP_TO_ST.get((arr.dtype.kind, arr.dtype.itemsize))
        if code is None or arr.dtype.fields is not None:
            raise TypeError(
                f"ember.save: cannot store {what} of dtype {arr.dtype} at {_fmt_path(parts)}; "
                f"supported dtypes are bool, uint8/16/32/64, int8/16/32/64, float16/32/64 and complex64/128 "
                f"(convert it, e.g. with .astype(np.float32))")
        if pair:
            arr = np.stack([arr.real, arr.imag], axis=-1)
        arr = arr.astype(arr.dtype.newbyteorder("<"), order="C", copy=False)  # keeps 0-d arrays 0-d
        name = self._name_for(parts)
        self.arrays.append((name, code, arr))
        if pair:
            self.complex128.append(name)
        return name

    def encode(self, x, parts, depth=0):
        if depth > MAX_DEPTH:
            raise ValueError(f"ember.save: the object is nested deeper than {MAX_DEPTH} levels "
                             f"at {_fmt_path(parts[:5])}...")
        Tensor = _tensor_cls()
        if isinstance(x, Tensor):
            name = self.by_id.get(id(x))
            if name is None:
                name = self.by_id[id(x)] = self._store(_host(x._data), parts, "tensor")
            node = {"tensor": name}
            if getattr(x, "requires_grad", False):
                node["requires_grad"] = True
            return node
        if x is None or isinstance(x, bool):
            return x
        if isinstance(x, np.ndarray):
            name = self.by_id.get(id(x))
            if name is None:
                name = self.by_id[id(x)] = self._store(x, parts, "NumPy array")
            return {"ndarray": name}
        if isinstance(x, str):  # str subclasses (np.str_ too) come back as str
            return str(x)
        if isinstance(x, bytes):
            return {"bytes": self._store(np.frombuffer(x, dtype=np.uint8), parts, "bytes")}
        if isinstance(x, np.generic):
            return {"np_scalar": self._store(np.asarray(x), parts, "NumPy scalar")}
        if type(x) is int:
            return x
        if type(x) is float:
            return x if math.isfinite(x) else {"float": repr(x)}
        if isinstance(x, dict) or type(x) in (list, tuple):
            if id(x) in self.active:
                raise ValueError(f"ember.save: circular reference at {_fmt_path(parts)} "
                                 f"(the object contains itself)")
            self.active.add(id(x))
            try:
                if isinstance(x, dict):
                    if all(isinstance(k, str) for k in x):
                        return {"dict": {str(k): self.encode(v, parts + [k], depth + 1)
                                         for k, v in x.items()}}
                    return {"items": [[self.encode_key(k, parts), self.encode(v, parts + [k], depth + 1)]
                                      for k, v in x.items()]}
                items = [self.encode(v, parts + [i], depth + 1) for i, v in enumerate(x)]
                return items if type(x) is list else {"tuple": items}
            finally:
                self.active.discard(id(x))
        if _is_ember_dtype(x):
            return {"dtype": x.name}
        return self.encode_pickled(x, parts)

    def encode_pickled(self, x, parts):
        """Pickle ``x`` (its tensors and arrays stay raw tensors, referenced by name)."""
        import pickle

        if (type(x).__module__ or "").split(".")[0] == "torch" or isinstance(x, np.ndarray):
            raise TypeError(self._type_message(x, parts))

        enc = self
        Tensor = _tensor_cls()
        try:
            from .nn.parameter import Parameter
        except ImportError:  # pragma: no cover
            Parameter = None

        from ._tensor import _View  # a view (``pe[:n]`` kept as a buffer) is stored as the tensor it shows

        class _Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                t = type(obj)
                if t is Tensor or t is _View or (Parameter is not None and t is Parameter):
                    name = enc.by_id.get(id(obj))
                    if name is None:
                        name = enc.by_id[id(obj)] = enc._store(_host(obj._data), parts, "tensor")
                    kind = "parameter" if t is not Tensor else "tensor"
                    return (kind, name, bool(obj.requires_grad))
                if t is np.ndarray and obj.dtype.fields is None and (
                        (obj.dtype.kind, obj.dtype.itemsize) in _NP_TO_ST or obj.dtype == np.complex128):
                    name = enc.by_id.get(id(obj))
                    if name is None:
                        name = enc.by_id[id(obj)] = enc._store(obj, parts, "NumPy array")
                    return ("ndarray", name, False)
                return None

        buf = io.BytesIO()
        try:
            _Pickler(buf, protocol=self.pickle_protocol).dump(x)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            raise TypeError(f"{self._type_message(x, parts)}; pickling it failed too: {e}") from None
        self.pickled = True
        name = self._store(np.frombuffer(buf.getvalue(), dtype=np.uint8), list(parts) + ["__pickle__"], "pickle")
        return {"pickle": name, "type": _type_name(x)}

    def encode_key(self, k, parts):
        if k is None or isinstance(k, (bool, str)) or type(k) in (int, float):
            return self.encode(k, parts)
        if type(k) is tuple:
            return {"tuple": [self.encode_key(e, parts) for e in k]}
        raise TypeError(f"ember.save: cannot store dict key {k!r} of type {_type_name(k)!r} in the dict "
                        f"at {_fmt_path(parts)}; keys must be str, int, float, bool, None or tuples of those")

    @staticmethod
    def _type_message(x, parts):
        tname = _type_name(x)
        msg = f"ember.save: cannot store object of type {tname!r} at {_fmt_path(parts)}"
        mod = type(x).__module__ or ""
        if mod.split(".")[0] == "torch":
            return msg + "; convert torch objects first with ember.interop.from_torch(obj)"
        if isinstance(x, (list, tuple)):
            base = "list" if isinstance(x, list) else "tuple"
            return msg + f"; subclasses of {base} are not stored, convert it with {base}(x)"
        return msg + ("; ember checkpoints hold dicts, lists, tuples, None, bool, int, float, str, "
                      "bytes, ember Tensors, NumPy arrays/scalars and ember dtypes without pickle, and "
                      "other objects with pickle; store this object's state (e.g. its state_dict()) instead")


def _type_name(x):
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _build(obj, pickle_protocol=2):
    """Encode ``obj``: returns (header bytes incl. the 8-byte length, list of arrays)."""
    import hashlib
    import json
    enc = _Encoder(pickle_protocol)
    structure = enc.encode(obj, [])
    header = {"__metadata__": {
        _KEY_FORMAT: str(FORMAT_VERSION),
        _KEY_VERSION: _ember_version(),
        _KEY_STRUCTURE: json.dumps(structure, ensure_ascii=True, allow_nan=False, separators=(",", ":")),
    }}
    if enc.pickled:
        header["__metadata__"][_KEY_PICKLE] = "1"
    if enc.complex128:
        header["__metadata__"][_KEY_FORMAT] = str(FORMAT_COMPLEX128)
        header["__metadata__"][_KEY_COMPLEX128] = json.dumps(enc.complex128, ensure_ascii=True,
                                                             separators=(",", ":"))
    offset = 0
    for name, code, arr in enc.arrays:
        header[name] = {"dtype": code, "shape": [int(s) for s in arr.shape],
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    h = hashlib.sha256(_HASH_PREFIX + _canonical(header) + b"\n")
    for _, _, arr in enc.arrays:
        h.update(_bytes_view(arr))
    header["__metadata__"][_KEY_CHECKSUM] = h.hexdigest()
    text = json.dumps(header, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text, [arr for _, _, arr in enc.arrays]


def _bytes_view(arr):
    return memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else b""


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save ``obj`` (a state dict or any nesting of dicts/lists/tuples of tensors, arrays and
    plain values) to ``f``, a path or a binary file object, in ember's secure format.

    Any other object (a whole ``nn.Module``, an optimizer, an instance of your own class) is
    pickled into a separate, marked section, with its tensors still stored raw; such a file
    loads only with ``ember.load(f, weights_only=False)``, as in torch >= 2.6. Saving the
    ``state_dict()`` instead keeps the file loadable safely. ``pickle_module`` and the last two
    arguments exist for torch compatibility and are ignored; ``pickle_protocol`` is used for
    pickled sections.

    Writing to a path is atomic: the data goes to a temporary file in the same folder, is
    flushed and fsynced, then renamed over ``f``; on any error no partial file is left behind.

    >>> ember.save({"w": ember.ones(2, 3), "step": 10}, "ckpt.ember")
    """
    head, arrays = _build(obj, int(pickle_protocol))  # all TypeErrors surface before anything is written
    if isinstance(f, (str, bytes, os.PathLike)):
        _atomic_write(os.fsdecode(f), head, arrays)
        return
    if not hasattr(f, "write"):
        raise TypeError(f"ember.save: f must be a path or a binary file object opened for writing, "
                        f"got {_type_name(f)!r}")
    if isinstance(f, io.TextIOBase):
        raise TypeError("ember.save: the file object is in text mode; open it in binary mode ('wb')")
    f.write(head)
    for arr in arrays:
        f.write(_bytes_view(arr))


def _umask():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_TEMP_NAME = re.compile(r"^\..+\.(?P<pid>\d+)\.[A-Za-z0-9_]{8}\.tmp$")
_STALE_AFTER_S = 60.0  # and untouched this long (a writer on another machine sharing the folder keeps it fresh)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or cannot tell: keep its file
    return True


def _remove_stale_temps(folder):
    """Remove temp files that a crashed ``ember.save`` left in ``folder`` (killed between creating its
    temp file and renaming it). Only files named like ours whose writer process is gone and that
    nobody touched for a minute are removed; a live save's temp file is never touched."""
    import time

    try:
        names = os.listdir(folder)
    except OSError:
        return
    now = time.time()
    for name in names:
        m = _TEMP_NAME.match(name)
        if m is None or int(m["pid"]) == os.getpid() or _pid_alive(int(m["pid"])):
            continue
        p = os.path.join(folder, name)
        try:
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > _STALE_AFTER_S:
                os.unlink(p)
        except OSError:
            pass


def _atomic_write(path, head, arrays):
    import tempfile
    if os.path.islink(path):  # write through a symlink, as open() would, instead of replacing it
        path = os.path.realpath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(2, "ember.save: the folder does not exist", folder)
    if os.path.isdir(path):
        raise IsADirectoryError(21, "ember.save: the path is a directory, give a file name", path)
    _remove_stale_temps(folder)
    # the writer's pid is in the name: a later save removes the file if that process is gone
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(head)
            for arr in arrays:
                fh.write(_bytes_view(arr))
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the mode an ordinary open() would have
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        try:
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)


# ----------------------------------------------------------------------------------------------
# load

_FOREIGN_MAGIC = [
    (b"PK\x03\x04", "a zip archive (this is what torch.save writes)"),
    (b"PK\x05\x06", "a zip archive"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (e.g. a Keras .h5 model)"),
    (b"\x1f\x8b", "a gzip file"),
]

_CONVERT_HINT = ("ember refuses to load pickle data, because unpickling can execute arbitrary code. "
                 "To convert a torch checkpoint you trust, run in Python with torch installed: "
                 "ember.save(ember.interop.from_torch(torch.load(path, weights_only=True)), 'model.ember')")


def _no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _strict_json(text):
    import json
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


def _is_int(x):
    return type(x) is int


_READ_CHUNK = 1 << 24  # bytes per read() call: memory grows with the bytes a file holds, never with what it claims


class _Source:
    """A checkpoint being read piece by piece: header first, body only once the header is valid.

    ``size`` is the number of bytes from the start of the checkpoint to the end of the file (from
    ``fstat`` for a path, ``seek``/``tell`` for a seekable file object), or None for a stream.
    """

    def __init__(self, fh, path, size, who, own):
        self.fh, self.path, self.size, self.who, self._own = fh, path, size, who, own

    def read(self, n):
        """Up to ``n`` bytes (fewer only at the end of the file), read in bounded chunks."""
        parts, left = [], n
        while left > 0:
            b = self.fh.read(min(left, _READ_CHUNK))
            if not isinstance(b, (bytes, bytearray, memoryview)):
                raise TypeError(f"{self.who}: the file object returned {_type_name(b)!r}; open it in binary "
                                "mode ('rb')")
            if not b:
                break
            parts.append(bytes(b))
            left -= len(b)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_known(self, n):
        """Exactly ``n`` bytes the file is known to hold (its size was checked), read straight into one
        buffer; fewer only if the file shrank meanwhile."""
        readinto = getattr(self.fh, "readinto", None)
        if self.size is None or readinto is None:
            return self.read(n)
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = readinto(view[got:got + _READ_CHUNK])
            if not k:
                break
            got += k
        view.release()
        if got < n:
            del buf[got:]
        return buf

    def close(self):
        if self._own:
            self.fh.close()


def _open_source(f, who):
    """A :class:`_Source` for a path (regular files only) or a binary file object."""
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise FileNotFoundError(2, f"{who}: no such file", path) from None
        st = os.fstat(fd)
        mode = st.st_mode
        if not stat.S_ISREG(mode):  # /dev/zero, /dev/urandom, a FIFO or a folder: never read
            os.close(fd)
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                    else "a character device" if stat.S_ISCHR(mode) else "a block device"
                    if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise CheckpointError(path, f"it is {kind}, not a regular file; ember reads checkpoints from "
                                        "regular files only")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return _Source(os.fdopen(fd, "rb"), path, st.st_size, who, own=True)
    if not hasattr(f, "read"):
        raise TypeError(f"{who}: f must be a path or a binary file object, got {_type_name(f)!r}")
    name = getattr(f, "name", None)
    path = os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else f"<{type(f).__name__}>"
    size = None
    try:
        if f.seekable():
            pos = f.tell()
            size = max(f.seek(0, os.SEEK_END) - pos, 0)
            f.seek(pos)
    except (AttributeError, OSError, ValueError, TypeError):
        size = None
    if size is not None and hasattr(f, "fileno"):
        try:  # a file object over /dev/zero or a pipe: its size says nothing; read it as a stream
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                size = None
        except (OSError, ValueError, io.UnsupportedOperation, AttributeError, TypeError):
            pass
    return _Source(f, path, size, who, own=False)


def _foreign_format_error(prefix, path):
    """A CheckpointError naming a format people mistake for checkpoints, or None."""
    for magic, what in _FOREIGN_MAGIC:
        if prefix.startswith(magic):
            return CheckpointError(path, f"this is {what}, not an ember checkpoint. " + _CONVERT_HINT)
    if prefix[:1] == b"\x80" and prefix[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return CheckpointError(path, "this is a pickle file (e.g. written by the legacy torch.save format or by "
                                     "pickle), not an ember checkpoint. " + _CONVERT_HINT)
    return None


def _read_checkpoint(f, who, *, ember_file=True):
    """Read and validate a checkpoint: the 8-byte length, then the header (its length checked against
    the file size first), then -- only once every header entry is valid and the tensors it declares
    add up to exactly the bytes left in the file -- the body. Returns (display path, header, meta,
    table, payload)."""
    src = _open_source(f, who)
    try:
        return (src.path,) + _read_layout(src, ember_file)
    finally:
        src.close()


def _read_layout(src, ember_file):
    path, size = src.path, src.size
    err = lambda reason: CheckpointError(path, reason)  # noqa: E731
    prefix = src.read(8)
    if not prefix:
        raise err("the file is empty (0 bytes)")
    if len(prefix) < 8:
        raise _foreign_format_error(prefix, path) or err(
            f"the file is truncated: {len(prefix)} bytes is too short for the 8-byte header length")
    if size is not None and size < len(prefix):  # (a /proc file: its size says 0) read it as a stream
        size = None
    n = struct.unpack_from("<Q", prefix, 0)[0]
    left = None if size is None else size - 8  # bytes after the length field
    if (left is not None and n > left) or n > MAX_HEADER_BYTES:
        foreign = _foreign_format_error(prefix, path)
        if foreign is not None:
            raise foreign
        if left is not None and n > left:
            raise err(f"the header length field says {n} bytes but only {left} bytes follow; "
                      f"the file is truncated or not an ember checkpoint")
        raise err(f"the header is {n} bytes, more than the {MAX_HEADER_BYTES}-byte limit")
    raw = src.read(n)
    if len(raw) < n:  # a stream (or a file that shrank while being read)
        raise _foreign_format_error(prefix, path) or err(
            f"the header length field says {n} bytes but only {len(raw)} bytes follow; "
            f"the file is truncated or not an ember checkpoint")
    if n < 2 or raw[:1] != b"{":
        raise _foreign_format_error(prefix, path) or err(
            "the header is not a JSON object (it must start with '{'); not an ember checkpoint")
    try:
        header = _strict_json(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise err(f"the header is not valid UTF-8 ({e.reason} at byte {8 + e.start})") from None
    except RecursionError:
        raise err("the header JSON is nested too deeply") from None
    except ValueError as e:
        raise err(f"the header is not valid JSON: {e}") from None
    del raw
    if not isinstance(header, dict):
        raise err("the header is not a JSON object")
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise err("'__metadata__' must map strings to strings")
    if ember_file:
        _check_ember_meta(meta, path)
    body = None if left is None else left - n  # the data's size, known before any of it is read
    table = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise err(f"tensor {name!r}: the entry must have exactly the keys 'dtype', 'shape' and "
                      f"'data_offsets', got {info!r:.200}")
        code, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if code not in _ST_ITEMSIZE or (code == "BF16" and ember_file):
            kind = "a dtype NumPy cannot hold" if code in _ST_FOREIGN else "an unknown dtype"
            raise err(f"tensor {name!r}: {code!r:.40} is {kind}; ember reads "
                      f"{', '.join(sorted(_ST_TO_NP))}")
        if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
            raise err(f"tensor {name!r}: shape must be a list of non-negative ints, got {shape!r:.200}")
        if len(shape) > 64:
            raise err(f"tensor {name!r}: {len(shape)} dimensions; at most 64 are supported")
        if math.prod(d for d in shape if d) * _ST_ITEMSIZE[code] > sys.maxsize:  # (even beside a 0-size one)
            raise err(f"tensor {name!r}: shape {shape!r:.200} is too large for an array on this machine")
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_int(o) for o in offs)
                and 0 <= offs[0] <= offs[1]):
            raise err(f"tensor {name!r}: data_offsets must be [begin, end] with 0 <= begin <= end, "
                      f"got {offs!r:.200}")
        if body is not None and offs[1] > body:
            raise err(f"tensor {name!r}: data_offsets {offs} run past the end of the data "
                      f"({body} bytes); the file is truncated")
        numel = math.prod(shape)
        if numel * _ST_ITEMSIZE[code] != offs[1] - offs[0]:
            raise err(f"tensor {name!r}: dtype {code} and shape {shape} need "
                      f"{numel * _ST_ITEMSIZE[code]} bytes but data_offsets {offs} span "
                      f"{offs[1] - offs[0]}")
        table.append((offs[0], offs[1], name, code, tuple(shape)))
    table.sort()
    pos = 0
    for begin, end, name, _, _ in table:
        if begin != pos:
            what = "overlaps the previous tensor" if begin < pos else f"leaves a gap of {begin - pos} bytes"
            raise err(f"tensor {name!r}: data_offsets [{begin}, {end}] {what}; tensors must cover "
                      f"the data back to back")
        pos = end
    if body is not None and pos != body:
        raise err(f"{body - pos} trailing bytes after the last tensor (the data is "
                  f"{body} bytes, the tensors cover {pos})")
    # the header is valid and accounts for every byte left: now (and only now) read the data
    data = src.read_known(pos) if body is not None else src.read(pos + 1)
    if len(data) < pos:
        raise err(f"the data ends after {len(data)} bytes but the tensors declare {pos}; the file is truncated "
                  "(or changed while it was read)")
    if len(data) > pos:  # a stream with bytes after the last tensor
        raise err(f"trailing bytes after the last tensor (the tensors cover {pos} bytes)")
    return header, meta, table, memoryview(data)


def _make_array(payload, begin, end, code, shape, path, name):
    raw = payload[begin:end]
    if code == "BOOL":
        u8 = np.frombuffer(raw, dtype=np.uint8)
        if u8.size and u8.max() > 1:
            raise CheckpointError(path, f"tensor {name!r}: BOOL data holds bytes other than 0 and 1")
        return u8.astype(np.bool_).reshape(shape)
    if code == "BF16":  # bfloat16 is the top half of a float32: widen exactly
        u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
        return (u16 << 16).view(np.float32).reshape(shape)
    dt = _ST_TO_NP[code]
    if dt.kind == "c":
        _dtype_mod().CPLX[0] = True  # ember's ops check complex inputs from now on
    return np.frombuffer(raw, dtype=dt.newbyteorder("<")).astype(dt, copy=True).reshape(shape)


def _check_ember_meta(meta, path):
    missing = [k for k in _EMBER_KEYS if k not in meta]
    if len(missing) == len(_EMBER_KEYS):
        raise CheckpointError(path, "this is a safetensors file without ember metadata, not an ember "
                                    "checkpoint; read its tensors with ember.interop.load_safetensors(path)")
    if missing:
        raise CheckpointError(path, f"the ember metadata lacks {', '.join(map(repr, missing))}")
    fmt = meta[_KEY_FORMAT]
    if fmt not in (str(FORMAT_VERSION), str(FORMAT_COMPLEX128)):
        if fmt.isascii() and fmt.isdigit() and len(fmt) < 6 and int(fmt) > FORMAT_COMPLEX128:
            raise CheckpointError(path, f"written in checkpoint format {fmt} by ember "
                                        f"{meta[_KEY_VERSION]!r:.40}; this ember reads formats "
                                        f"{FORMAT_VERSION} and {FORMAT_COMPLEX128}, upgrade ember to load it")
        raise CheckpointError(path, f"unknown checkpoint format {fmt!r:.40}")
    if (_KEY_COMPLEX128 in meta) != (fmt == str(FORMAT_COMPLEX128)):
        raise CheckpointError(path, f"checkpoint format {fmt!r:.40} {'lacks' if fmt == str(FORMAT_COMPLEX128) else 'has'} "
                                    f"the {_KEY_COMPLEX128!r} list (format {FORMAT_COMPLEX128} files, and only "
                                    "they, list their complex128 tensors)")


def _complex128_names(meta, table, path):
    """The names of the arrays an ember file stores as float64 (real, imaginary) pairs, validated: a JSON list
    of distinct names of F64 tensors whose last dimension is 2."""
    raw = meta.get(_KEY_COMPLEX128)
    if raw is None:
        return frozenset()
    try:
        names = _strict_json(raw)
    except (ValueError, RecursionError):
        names = None
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise CheckpointError(path, f"{_KEY_COMPLEX128!r} must be a JSON list of tensor names, got {raw!r:.100}")
    if len(set(names)) != len(names):
        raise CheckpointError(path, f"{_KEY_COMPLEX128!r} names a tensor twice")
    info = {name: (code, shape) for _, _, name, code, shape in table}
    for n in names:
        if n not in info:
            raise CheckpointError(path, f"{_KEY_COMPLEX128!r} names tensor {n!r:.100}, which the file does not contain")
        code, shape = info[n]
        if code != "F64" or not shape or shape[-1] != 2:
            raise CheckpointError(path, f"complex128 tensor {n!r:.100} must be stored as F64 with a last dimension "
                                        f"of 2 (real, imaginary), got {code} {list(shape)}")
    return frozenset(names)


def _as_complex128(arr):
    _dtype_mod().CPLX[0] = True  # ember's ops check complex inputs from now on
    out = np.empty(arr.shape[:-1], np.complex128)
    out.real = arr[..., 0]
    out.imag = arr[..., 1]
    return out


def _verify_checksum(header, meta, payload, path):
    import hashlib
    stored = meta[_KEY_CHECKSUM]
    rest = dict(header)
    rest["__metadata__"] = {k: v for k, v in meta.items() if k != _KEY_CHECKSUM}
    h = hashlib.sha256(_HASH_PREFIX + _canonical(rest) + b"\n")
    h.update(payload)
    if h.hexdigest() != stored:
        raise CheckpointError(path, "checksum mismatch: the file was corrupted or modified after it "
                                    "was written (its SHA-256 does not match the one stored in it)")


class _Decoder:
    def __init__(self, path, table, payload, device=None, weights_only=True, complex128=frozenset()):
        self.weights_only = weights_only
        self.complex128 = complex128
        self.path = path
        self.device = None if device is None or device.type == "cpu" else device
        self.table = {name: (b, e, code, shape) for b, e, name, code, shape in table}
        self.payload = payload
        self.made = {}   # name -> (kind, object, requires_grad)
        self.params = {}  # ("parameter", name) -> Parameter rebuilt from a pickled module

    def fail(self, parts, reason):
        return CheckpointError(self.path, f"structure at {_fmt_path(parts)}: {reason}")

    def array(self, name, parts, kind):
        if not isinstance(name, str):
            raise self.fail(parts, f"a {kind} reference must be a tensor name, got {name!r:.100}")
        if name not in self.table:
            raise self.fail(parts, f"refers to tensor {name!r:.100}, which the file does not contain")
        b, e, code, shape = self.table[name]
        arr = _make_array(self.payload, b, e, code, shape, self.path, name)
        return _as_complex128(arr) if name in self.complex128 else arr

    def shared(self, name, parts, kind, make, requires_grad=False):
        if isinstance(name, str) and name in self.made:
            k, obj, rg = self.made[name]
            if k != kind or rg != requires_grad or kind in ("np_scalar", "bytes"):
                raise self.fail(parts, f"tensor {name!r:.100} is referenced twice inconsistently")
            return obj
        obj = make(self.array(name, parts, kind))
        self.made[name] = (kind, obj, requires_grad)
        return obj

    def decode(self, node, parts, depth=0, key=False):
        if depth > 2 * MAX_DEPTH + 2:
            raise self.fail(parts[:5], f"nested deeper than {MAX_DEPTH} levels")
        if node is None or isinstance(node, (bool, str)) or type(node) in (int, float):
            return node
        if isinstance(node, list):
            if key:
                raise self.fail(parts, "a dict key cannot be a list")
            return [self.decode(v, parts + [i], depth + 1) for i, v in enumerate(node)]
        if isinstance(node, dict) and set(node) == {"pickle", "type"} and not key:
            return self.unpickle(node, parts)
        if isinstance(node, dict) and len(node) == 1:
            tag = next(iter(node))
        elif isinstance(node, dict) and set(node) == {"tensor", "requires_grad"} and node["requires_grad"] is True:
            tag = "tensor"
        else:
            raise self.fail(parts, f"unexpected JSON node {node!r:.100}")
        val = node[tag]
        if tag == "tuple" and isinstance(val, list):
            return tuple(self.decode(v, parts + [i], depth + 1, key) for i, v in enumerate(val))
        if tag == "float" and val in ("nan", "inf", "-inf"):
            return float(val)
        if key and tag != "float":
            raise self.fail(parts, f"a dict key cannot be a {tag!r:.40} node")
        if tag == "dict" and isinstance(val, dict):
            return {k: self.decode(v, parts + [k], depth + 1) for k, v in val.items()}
        if tag == "items" and isinstance(val, list):
            out = {}
            for item in val:
                if not (isinstance(item, list) and len(item) == 2):
                    raise self.fail(parts, f"a dict item must be a [key, value] pair, got {item!r:.100}")
                k = self.decode(item[0], parts, depth + 1, key=True)
                if k in out:
                    raise self.fail(parts, f"duplicate dict key {k!r:.100}")
                out[k] = self.decode(item[1], parts + [k], depth + 1)
            return out
        if tag == "tensor":
            rg = len(node) == 2
            Tensor = _tensor_cls()

            def make(arr):
                if rg and arr.dtype.kind not in "fc":
                    raise self.fail(parts, f"tensor {val!r:.100} of dtype {arr.dtype} cannot require grad")
                if self.device is not None:
                    from ._backend import to_device
                    arr = to_device(arr, self.device)
                t = Tensor._wrap(arr)
                if rg:
                    t.requires_grad = True
                return t
            return self.shared(val, parts, "tensor", make, rg)
        if tag == "ndarray":
            return self.shared(val, parts, "ndarray", lambda a: a)
        if tag == "np_scalar":
            return self.shared(val, parts, "np_scalar", self._scalar(parts))
        if tag == "bytes":
            return self.shared(val, parts, "bytes", self._bytes(parts))
        if tag == "dtype":
            d = _dtype_by_name(val)
            if d is None:
                raise self.fail(parts, f"unknown ember dtype {val!r:.100}")
            return d
        raise self.fail(parts, f"unexpected JSON node {node!r:.100}")

    def unpickle(self, node, parts):
        """A pickled object: refused under weights_only, else unpickled with its tensors from the file."""
        import pickle

        tname = node["type"]
        allowed = _allowed_globals() if self.weights_only else None
        if self.weights_only and not allowed:
            raise UnsafeCheckpointError(self.path, (
                f"Weights only load failed: the object at {_fmt_path(parts)} (of type {tname!r:.200}) was saved "
                "with pickle, and unpickling can execute arbitrary code, so ember.load refuses it by default "
                "(weights_only=True, as torch >= 2.6). If you trust the source of this file, load it with "
                "ember.load(f, weights_only=False), or allowlist the classes it holds with "
                "ember.serialization.safe_globals([...]); otherwise ask for a file saved from state_dict(), "
                "which loads safely."))
        payload = self.shared(node["pickle"], parts, "bytes", self._bytes(parts))
        dec = self

        class _Unpickler(pickle.Unpickler):
            def find_class(self, module, name):
                if allowed is None:
                    return super().find_class(module, name)
                if module == "__builtin__":  # protocol 2 spells builtins the Python 2 way
                    module = "builtins"
                if (module, name) in allowed:
                    return allowed[(module, name)]
                if (module, name) in _DEFAULT_SAFE:
                    return super().find_class(module, name)
                raise UnsafeCheckpointError(dec.path, (
                    f"Weights only load failed: the object at {_fmt_path(parts)} (of type {tname!r:.200}) needs "
                    f"the global {module}.{name}, which is not allowlisted. If you trust the source of this "
                    f"file, add it: ember.serialization.add_safe_globals([{name}]) or the "
                    f"ember.serialization.safe_globals([{name}]) context manager (or load with "
                    "weights_only=False)."))

            def persistent_load(self, pid):
                if not (isinstance(pid, tuple) and len(pid) == 3 and pid[0] in ("tensor", "parameter", "ndarray")):
                    raise dec.fail(parts, f"unexpected persistent id {pid!r:.100} in a pickled object")
                kind, name, rg = pid
                if kind == "ndarray":
                    return dec.shared(name, parts, "ndarray", lambda a: a)
                t = dec.decode({"tensor": name, "requires_grad": True} if rg else {"tensor": name}, parts)
                if kind == "parameter":
                    from .nn.parameter import Parameter

                    key = ("parameter", name)
                    if key not in dec.params:
                        dec.params[key] = Parameter(t, requires_grad=rg)
                    return dec.params[key]
                return t

        try:
            return _Unpickler(io.BytesIO(payload)).load()
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(self.path, f"structure at {_fmt_path(parts)}: unpickling the saved "
                                             f"{tname!r:.200} failed: {type(e).__name__}: {e}") from e

    def _scalar(self, parts):
        def make(a):
            if a.ndim != 0:
                raise self.fail(parts, f"a NumPy scalar must be stored as a 0-d tensor, got shape {a.shape}")
            return a[()]
        return make

    def _bytes(self, parts):
        def make(a):
            if a.dtype != np.uint8 or a.ndim != 1:
                raise self.fail(parts, "bytes must be stored as a 1-d U8 tensor")
            return a.tobytes()
        return make


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Load an object written by :func:`ember.save` from a path or a binary file object.

    Tensors come back as ember Tensors, NumPy arrays as NumPy arrays, tuples as tuples and int
    dict keys as ints. Tensors load on the CPU unless ``map_location`` names a device
    (``"cuda:0"``).

    ``weights_only`` (default ``None``, meaning True, as torch >= 2.6): tensors, state dicts and
    plain containers load without pickle, so nothing in the file can run code. A file holding
    pickled objects (``ember.save(model)`` of a whole module) is refused with
    :class:`UnsafeCheckpointError` unless ``weights_only=False``, which unpickles them: only do
    that for files from a source you trust. Between the two, as in torch, classes allowlisted with
    :func:`add_safe_globals` or the :class:`safe_globals` context manager let such a file load with
    ``weights_only=True``: the unpickler resolves only those globals (and plain containers). ``pickle_module``, ``mmap`` and ``pickle_load_args``
    are accepted for torch compatibility and ignored.
    Raises :class:`CheckpointError` for any malformed, corrupted or foreign file and
    ``FileNotFoundError`` when the file does not exist.

    >>> ckpt = ember.load("ckpt.ember")
    """
    device = None
    if map_location is not None:
        from ._backend import device as _device
        try:
            device = _device(map_location)
        except (TypeError, ValueError):
            raise ValueError(f"ember.load: map_location must be None, a device or a device string such "
                             f"as 'cpu' or 'cuda:0', got {map_location!r:.100}") from None
    path, header, meta, table, payload = _read_checkpoint(f, "ember.load")
    _verify_checksum(header, meta, payload, path)
    try:
        structure = _strict_json(meta[_KEY_STRUCTURE])
    except RecursionError:
        raise CheckpointError(path, "the structure JSON is nested too deeply") from None
    except ValueError as e:
        raise CheckpointError(path, f"the structure is not valid JSON: {e}") from None
    dec = _Decoder(path, table, payload, device, weights_only=weights_only is not False,
                   complex128=_complex128_names(meta, table, path))
    try:
        obj = dec.decode(structure, [])
    except RecursionError:
        raise CheckpointError(path, "the structure is nested too deeply") from None
    unused = [name for _, _, name, _, _ in table if name not in dec.made]
    if unused:
        raise CheckpointError(path, f"{len(unused)} stored tensor(s) are not referenced by the structure: "
                                    f"{', '.join(map(repr, unused[:5]))}")
    return obj


def load_safetensors(f):
    """Read the tensors of any safetensors file (ember's or another writer's) as a dict
    ``{name: ember.Tensor}``. BF16 tensors are widened exactly to float32. When the file is
    an ember checkpoint its checksum is verified; the structure is ignored.
    """
    path, header, meta, table, payload = _read_checkpoint(f, "load_safetensors", ember_file=False)
    pairs = frozenset()
    if _KEY_CHECKSUM in meta:
        _verify_checksum(header, meta, payload, path)
        pairs = _complex128_names(meta, table, path)
    Tensor = _tensor_cls()
    order = [name for name in header if name != "__metadata__"]
    arrays = {name: _make_array(payload, b, e, code, shape, path, name) for b, e, name, code, shape in table}
    arrays = {name: _as_complex128(a) if name in pairs else a for name, a in arrays.items()}
    return {name: Tensor._wrap(arrays[name]) for name in order}
