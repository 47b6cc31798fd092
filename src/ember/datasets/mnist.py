"""MNIST and FashionMNIST: readers of the standard IDX files, with an optional verified download.

Nothing here executes code from the files: IDX is a fixed binary layout (a magic number, the
dimensions, raw values), parsed with ``struct`` and NumPy and validated before use.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ..utils.data.dataset import Dataset

__all__ = ["MNIST", "FashionMNIST", "IDXError", "read_idx", "default_cache_dir"]

# IDX type codes -> big-endian NumPy dtypes
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IDXError(ValueError):
    """An IDX file that is malformed, truncated or not the expected kind of file."""


def default_cache_dir() -> Path:
    """Where datasets are downloaded by default: ``$EMBER_DATA``, else ``$XDG_CACHE_HOME/ember/datasets``
    (``~/.cache/ember/datasets``)."""
    if os.environ.get("EMBER_DATA"):
        return Path(os.environ["EMBER_DATA"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ember" / "datasets"


def _read_bytes(path: Path) -> bytes:
    import gzip

    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise IDXError(f"{path}: not a valid gzip file ({e}); delete it and download or copy it again") from e
    return path.read_bytes()


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzipped when its name ends in ``.gz``) into a NumPy array.

    Example::

        >>> images = read_idx("train-images-idx3-ubyte.gz")  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        ((60000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise IDXError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in _IDX_TYPES or ndim == 0:
        raise IDXError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()}; expected 0x0000 then a type code "
            f"({', '.join(hex(c) for c in _IDX_TYPES)}) and the number of dimensions"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header: {ndim} dimensions need {header} bytes, file has {len(raw)}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise IDXError(
            f"{path}: {what}: dimensions {dims} of {dtype.name} need {expected} bytes of data, found {got}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _download(url: str, dest: Path, checksum: tuple[str, str] | None, timeout: float) -> None:
    """Stream ``url`` into a temp file next to ``dest``, check it, fsync, then atomically rename."""
    import hashlib
    import tempfile
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        algo = checksum[0] if checksum else "sha256"
        h = hashlib.new(algo)
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    h.update(block)
                    out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if checksum and h.hexdigest() != checksum[1].lower():
            raise _ChecksumError(f"{algo} mismatch: expected {checksum[1].lower()}, got {h.hexdigest()}")
        os.replace(tmp, dest)
        try:  # make the rename itself durable
            dfd = os.open(dest.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class _ChecksumError(Exception):
    pass


class MNIST(Dataset):
    """The MNIST handwritten digits, read from the four standard IDX files in ``root``.

    Samples are ``(image, label)``: the image a uint8 NumPy array of shape (28, 28) (apply
    :class:`~ember.datasets.transforms.ToTensor` to get a float tensor in [0, 1]), the label an int.
    ``data`` (uint8, N x 28 x 28) and ``targets`` (int64) hold the whole split as tensors.

    Files are looked for in ``root`` and in ``root/<ClassName>/raw`` (torchvision's layout), gzipped
    or not. With ``download=True`` missing files are fetched from ``url`` (a base URL or a list of
    them; default ``mirrors``) into ``root`` (default :func:`default_cache_dir`), checked against
    ``sha256`` (a ``{file name: hex digest}`` map; the published MD5s are checked when no SHA-256 is
    given for the default mirrors) and written atomically.

    Example::

        >>> ds = MNIST("data/mnist", train=True, download=True, transform=ToTensor())  # doctest: +SKIP
        >>> x, y = ds[0]  # doctest: +SKIP
        >>> tuple(x.shape)  # doctest: +SKIP
        (1, 28, 28)
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    # The published MD5s of the gzipped files on the default mirrors (integrity check only).
    known_md5 = {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    files = {
        True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False,
                 url=None, sha256=None, timeout=30.0):
        name = type(self).__name__
        self.root = Path(root).expanduser() if root is not None else default_cache_dir() / name
        self.train = bool(train)
        self.transform, self.target_transform = transform, target_transform
        self.urls = [url] if isinstance(url, str) else list(url) if url is not None else list(self.mirrors)
        self.sha256 = dict(sha256 or {})
        self.timeout = timeout
        paths = []
        for stem in self.files[self.train]:
            path = self._find(stem)
            if path is None and download:
                path = self._fetch(stem)
            paths.append(path)
        missing = [stem for stem, p in zip(self.files[self.train], paths) if p is None]
        if missing:
            raise FileNotFoundError(
                f"{name}: dataset files not found in {self.root}: missing "
                + ", ".join(f"{m}[.gz]" for m in missing)
                + f". Pass download=True to fetch them from {self.urls[0]}, or place the files there by hand"
            )
        images, labels = read_idx(paths[0]), read_idx(paths[1])
        if images.ndim != 3 or images.dtype != np.uint8:
            raise IDXError(f"{paths[0]}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise IDXError(f"{paths[1]}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}")
        if len(images) != len(labels):
            raise IDXError(f"{name}: {len(images)} images in {paths[0].name} but {len(labels)} labels in {paths[1].name}")
        if labels.size and labels.max() >= len(self.classes):
            raise IDXError(f"{paths[1]}: label {int(labels.max())} out of range 0..{len(self.classes) - 1}")
        import ember

        self.data = ember.Tensor._wrap(np.ascontiguousarray(images))
        self.targets = ember.Tensor._wrap(labels.astype(np.int64))

    def _find(self, stem):
        for folder in (self.root, self.root / type(self).__name__ / "raw"):
            for fname in (stem, stem + ".gz"):
                if (folder / fname).is_file():
                    return folder / fname
        return None

    def _checksum(self, fname, base):
        if fname in self.sha256:
            return ("sha256", self.sha256[fname])
        if base in self.mirrors and fname in self.known_md5:
            return ("md5", self.known_md5[fname])
        return None

    def _fetch(self, stem):
        import http.client
        import urllib.error

        fname = stem + ".gz"
        dest = self.root / fname
        errors = []
        for base in self.urls:
            url = base if base.endswith(fname) else base.rstrip("/") + "/" + fname
            try:
                _download(url, dest, self._checksum(fname, base), self.timeout)
                return dest
            except _ChecksumError as e:
                errors.append(f"  {url}: {e} (the download was discarded)")
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
                reason = getattr(e, "reason", None) or e
                errors.append(f"  {url}: {type(e).__name__}: {reason}")
        raise RuntimeError(
            f"{type(self).__name__}: could not download {fname}:\n" + "\n".join(errors)
            + f"\nIf you are offline, download the files by hand and place them in {self.root} "
            "(gzipped or not): " + ", ".join(f"{s}.gz" for pair in self.files.values() for s in pair)
            + "; or pass url= to use another mirror"
        )

    def __len__(self):
        return self.targets.shape[0]

    def __getitem__(self, index):
        img = self.data._data[index]
        target = int(self.targets._data[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self):
        return f"{type(self).__name__}(split={'train' if self.train else 'test'!r}, samples={len(self)}, root={str(self.root)!r})"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: the same IDX files and API as :class:`MNIST`, ten kinds of clothing.

    Example::

        >>> ds = FashionMNIST("data/fashion", train=False, download=True)  # doctest: +SKIP
        >>> ds.classes[ds[0][1]]  # doctest: +SKIP
        'Ankle boot'
    """

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    known_md5 = {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
