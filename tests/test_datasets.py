"""ember.datasets: Digits, MNIST/FashionMNIST IDX readers and downloads (served from 127.0.0.1), transforms."""
import functools
import gzip
import hashlib
import http.server
import socket
import struct
import sys
import threading

import numpy as np
import pytest
import torch

import ember
from ember.datasets import MNIST, Digits, FashionMNIST, IDXError, read_idx
from ember.datasets.transforms import Compose, Lambda, Normalize, ToTensor
from ember.utils.data import DataLoader

# ---- Digits -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sk_digits():
    from sklearn.datasets import load_digits

    return load_digits()


def test_digits_splits(sk_digits):
    train, test, every = Digits(train=True), Digits(train=False), Digits(split="all")
    assert (len(train), len(test), len(every)) == (1438, 359, 1797)
    x, y = train[0]
    assert x.shape == (1, 8, 8) and x.dtype == ember.float32 and isinstance(y, int)
    np.testing.assert_allclose(every.data.reshape(-1, 64), sk_digits.data / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(every.targets, sk_digits.target)
    assert 0.0 <= train.data.min() and train.data.max() == 1.0
    # disjoint, covering, stratified and fixed
    rows = lambda d: {tuple(r) for r in np.concatenate([d.data.reshape(-1, 64), d.targets[:, None]], 1)}
    assert len(rows(train) & rows(test)) <= 2  # the raw data holds a few exact duplicates
    train_counts, test_counts = np.bincount(train.targets), np.bincount(test.targets)
    np.testing.assert_array_equal(train_counts + test_counts, np.bincount(sk_digits.target))
    np.testing.assert_array_equal(test_counts, np.round(0.2 * np.bincount(sk_digits.target)).astype(int))
    np.testing.assert_array_equal(Digits(train=False).targets, test.targets)
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all', got 'val'"):
        Digits(split="val")


def test_digits_transforms_and_loader():
    ds = Digits(train=False, transform=Lambda(lambda x: x * 2), target_transform=lambda y: y + 10)
    x, y = ds[0]
    assert float(x._data.max()) <= 2.0 and y >= 10
    xb, yb = next(iter(DataLoader(Digits(train=False), batch_size=16)))
    assert xb.shape == (16, 1, 8, 8) and xb.dtype == ember.float32 and yb.dtype == ember.int64


def test_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"Digits needs scikit-learn.*pip install ember\[data\]"):
        Digits()


# ---- IDX files ----------------------------------------------------------------------------------


def idx_bytes(arr, code=0x08):
    arr = np.asarray(arr)
    dt = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    return struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(dt).tobytes()


def write(path, data, gz=False):
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def make_split(folder, n=7, train=True, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    stem = "train" if train else "t10k"
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / f"{stem}-images-idx3-ubyte", idx_bytes(images), gz)
    write(folder / f"{stem}-labels-idx1-ubyte", idx_bytes(labels), gz)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(tmp_path, gz):
    images, labels = make_split(tmp_path, n=7, train=True, gz=gz)
    test_images, test_labels = make_split(tmp_path, n=3, train=False, gz=gz, seed=1)
    ds = MNIST(tmp_path, train=True)
    assert len(ds) == 7 and ds.data.dtype == ember.uint8 and ds.targets.dtype == ember.int64
    np.testing.assert_array_equal(ds.data._data, images)
    np.testing.assert_array_equal(ds.targets._data, labels)
    img, y = ds[2]
    np.testing.assert_array_equal(img, images[2])
    assert y == int(labels[2]) and isinstance(y, int)
    test = MNIST(tmp_path, train=False, transform=ToTensor())
    x, y = test[1]
    assert x.shape == (1, 28, 28) and x.dtype == ember.float32
    np.testing.assert_allclose(x._data[0], test_images[1] / 255.0, rtol=1e-6)
    xb, yb = next(iter(DataLoader(test, batch_size=3)))
    assert xb.shape == (3, 1, 28, 28) and yb._data.tolist() == test_labels.tolist()


def test_torchvision_layout_and_fashion(tmp_path):
    images, _ = make_split(tmp_path / "FashionMNIST" / "raw", train=False, gz=True)
    ds = FashionMNIST(tmp_path, train=False)
    np.testing.assert_array_equal(ds.data._data, images)
    assert ds.classes[9] == "Ankle boot" and "FashionMNIST" in repr(ds)


def test_read_idx_dtypes(tmp_path):
    for code, arr in [(0x0D, np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)),
                      (0x0C, np.arange(-3, 3, dtype=np.int32)), (0x0B, np.array([[-7, 300]], np.int16)),
                      (0x0E, np.array([1e-300, 2.5])), (0x09, np.array([-128, 127], np.int8))]:
        got = read_idx(write(tmp_path / f"a{code}", idx_bytes(arr, code)))
        assert got.dtype == arr.dtype.newbyteorder("=") and got.dtype.isnative
        np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize("mutate,match", [
    (lambda b: b"\x01" + b[1:], "bad IDX magic number 0x01000803"),
    (lambda b: b[:2] + b"\x07" + b[3:], "bad IDX magic number"),
    (lambda b: b[:-5], r"truncated: dimensions \(7, 28, 28\) of uint8 need 5488 bytes of data, found 5483"),
    (lambda b: b + b"xx", "has trailing bytes"),
    (lambda b: b[:10], "truncated header"),
    (lambda b: b[:3], "too short to be an IDX file"),
])
def test_idx_validation_errors(tmp_path, mutate, match):
    make_split(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(mutate(p.read_bytes()))
    with pytest.raises(IDXError, match=match):
        MNIST(tmp_path)


def test_mnist_content_errors(tmp_path):
    make_split(tmp_path, n=5)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(IDXError, match="5 images in train-images-idx3-ubyte but 4 labels"):
        MNIST(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros((5, 1), np.uint8)))
    with pytest.raises(IDXError, match=r"expected uint8 labels of shape \(N,\), got uint8 \(5, 1\)"):
        MNIST(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.array([0, 1, 2, 3, 12], np.uint8)))
    with pytest.raises(IDXError, match=r"label 12 out of range 0\.\.9"):
        MNIST(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((5, 4), np.uint8)))
    with pytest.raises(IDXError, match=r"expected uint8 images of shape \(N, H, W\)"):
        MNIST(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(IDXError, match="not a valid gzip file"):
        MNIST(tmp_path)


def test_missing_files_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MNIST: dataset files not found in .*: missing "
                                                r"t10k-images-idx3-ubyte\[\.gz\], t10k-labels-idx1-ubyte\[\.gz\]\. "
                                                r"Pass download=True"):
        MNIST(tmp_path, train=False)


# ---- downloads from a local HTTP server -----------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """Gzipped IDX files for both splits, served on 127.0.0.1 from a thread; yields (base_url, files)."""
    src = tmp_path / "server"
    arrays = {"train": make_split(src, n=6, train=True, gz=True), "test": make_split(src, n=4, train=False, gz=True)}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(src)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.iterdir()}
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", sha, arrays
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_verified_and_atomic(tmp_path, served):
    url, sha, arrays = served
    root = tmp_path / "cache"
    ds = MNIST(root, train=True, download=True, url=url, sha256=sha)
    np.testing.assert_array_equal(ds.data._data, arrays["train"][0])
    assert sorted(p.name for p in root.iterdir()) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    test = FashionMNIST(root, train=False, download=True, url=[url])  # no checksum known: still downloads
    np.testing.assert_array_equal(test.targets._data, arrays["test"][1])
    assert not [p for p in root.iterdir() if p.name.endswith(".part")]


def test_download_sha256_mismatch(tmp_path, served):
    url, sha, _ = served
    bad = dict(sha, **{"train-images-idx3-ubyte.gz": "0" * 64})
    root = tmp_path / "cache"
    with pytest.raises(RuntimeError, match=r"could not download train-images-idx3-ubyte\.gz:\n.*sha256 mismatch: "
                                           r"expected 0{64}, got [0-9a-f]{64} \(the download was discarded\)"):
        MNIST(root, download=True, url=url, sha256=bad)
    assert list(root.iterdir()) == []  # nothing half-written or unverified left behind


def test_download_unreachable(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    url = f"http://127.0.0.1:{port}/mnist/"
    with pytest.raises(RuntimeError, match=rf"MNIST: could not download train-images-idx3-ubyte\.gz:\n  "
                                           rf"{url}train-images-idx3-ubyte\.gz: URLError: .*refused.*\n"
                                           rf"If you are offline, download the files by hand and place them in"):
        MNIST(tmp_path / "r", download=True, url=url, timeout=5)
    assert not list((tmp_path / "r").iterdir())


# ---- transforms ---------------------------------------------------------------------------------


def test_to_tensor_matches_torch_formula():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (5, 4), dtype=np.uint8)
    rgb = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    for img, want in [(gray, torch.from_numpy(gray)[None].float() / 255),
                      (rgb, torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)]:
        got = ToTensor()(img)
        assert got.dtype == ember.float32 and got.shape == tuple(want.shape)
        np.testing.assert_allclose(got._data, want.numpy(), rtol=1e-6)
    f = rng.standard_normal((2, 3, 2))  # non-uint8 values are kept, as torchvision does
    np.testing.assert_array_equal(ToTensor()(f)._data, f.transpose(2, 0, 1))
    np.testing.assert_allclose(ToTensor()(ember.Tensor._wrap(gray))._data[0], gray / 255.0, rtol=1e-6)
    with pytest.raises(ValueError, match=r"ToTensor: expected an image of shape \(H, W\) or \(H, W, C\), got shape \(2,\)"):
        ToTensor()(np.zeros(2, np.uint8))
    with pytest.raises(TypeError, match="ToTensor: expected a NumPy array or an ember tensor, got list"):
        ToTensor()([[1]])


def test_normalize_matches_torch_formula():
    rng = np.random.default_rng(1)
    x = rng.random((2, 3, 4, 4)).astype(np.float32)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    want = (torch.from_numpy(x) - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    got = Normalize(mean, std)(ember.Tensor._wrap(x.copy()))
    np.testing.assert_allclose(got._data, want.numpy(), rtol=1e-6)
    inplace = ember.Tensor._wrap(x[0].copy())
    assert Normalize(mean, std, inplace=True)(inplace) is inplace
    np.testing.assert_allclose(inplace._data, want[0].numpy(), rtol=1e-6)
    pipeline = Compose([ToTensor(), Normalize([0.5], [0.5])])
    np.testing.assert_allclose(pipeline(np.array([[0, 255]], np.uint8))._data, [[[-1.0, 1.0]]])
    with pytest.raises(ValueError, match="std .* contains zero"):
        Normalize([0.0], [0.0])
    with pytest.raises(ValueError, match="mean has 3 entries but the image has 1 channels"):
        Normalize(mean, std)(ember.Tensor._wrap(np.zeros((1, 2, 2), np.float32)))
    with pytest.raises(TypeError, match="expected a floating-point tensor .*got a ember.uint8 tensor"):
        Normalize([0.5], [0.5])(ember.Tensor._wrap(np.zeros((1, 2, 2), np.uint8)))
    with pytest.raises(TypeError, match="Compose: transform 1 is not callable"):
        Compose([ToTensor(), 3])
    with pytest.raises(TypeError, match="Lambda: expected a callable, got int"):
        Lambda(3)


def test_docstring_examples_run():
    import doctest

    import ember.datasets as m1
    import ember.datasets.digits as m2
    import ember.datasets.transforms as m3

    globs = dict(np=np, ember=ember, Digits=Digits, ToTensor=ToTensor, Normalize=Normalize, Compose=Compose,
                 Lambda=Lambda)
    for m in (m1, m2, m3):
        result = doctest.testmod(m, extraglobs=globs, optionflags=doctest.ELLIPSIS, report=False)
        assert result.failed == 0 and result.attempted > 0, (m.__name__, result)
