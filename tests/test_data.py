"""ember.utils.data against torch.utils.data: collation, samplers, splits, DataLoader, workers, resume."""
import collections
import json
import os
import time
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import ember
import ember.utils.data as eud
from ember.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    random_split,
)

Point = collections.namedtuple("Point", ["x", "y"])


# ---- helpers ------------------------------------------------------------------------------------


def assert_same_structure(e, t):
    """An ember batch equals a torch batch: same container types, tensor values and dtypes."""
    if isinstance(t, torch.Tensor):
        assert isinstance(e, ember.Tensor), f"expected an ember tensor, got {type(e)}"
        assert e.dtype.name == str(t.dtype).replace("torch.", ""), (e.dtype, t.dtype)
        assert tuple(e.shape) == tuple(t.shape)
        np.testing.assert_array_equal(e._data, t.numpy())
    elif isinstance(t, dict):
        assert type(e) is type(t) and list(e) == list(t)
        for k in t:
            assert_same_structure(e[k], t[k])
    elif isinstance(t, (list, tuple)):
        assert type(e) is type(t), (type(e), type(t))
        assert len(e) == len(t)
        for a, b in zip(e, t):
            assert_same_structure(a, b)
    else:
        assert type(e) is type(t) and e == t


def to_torch(sample):
    """The same sample with ember tensors replaced by torch tensors."""
    if isinstance(sample, ember.Tensor):
        return torch.from_numpy(sample._data.copy())
    if isinstance(sample, Point):
        return Point(*(to_torch(s) for s in sample))
    if isinstance(sample, (list, tuple)):
        return type(sample)(to_torch(s) for s in sample)
    if isinstance(sample, dict):
        return {k: to_torch(v) for k, v in sample.items()}
    return sample


def batches_as_lists(loader):
    return [to_list(b) for b in loader]


def to_list(b):
    if isinstance(b, ember.Tensor):
        return b._data.tolist()
    if isinstance(b, (list, tuple)):
        return [to_list(x) for x in b]
    if isinstance(b, dict):
        return {k: to_list(v) for k, v in b.items()}
    return b


class Range(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i


def tds(n=10):
    return TensorDataset(ember.Tensor._wrap(np.arange(2 * n, dtype=np.float32).reshape(n, 2)),
                         ember.Tensor._wrap(np.arange(n, dtype=np.int64)))


# ---- collation ----------------------------------------------------------------------------------

rng = np.random.default_rng(0)
COLLATE_CASES = {
    "tuple_array_int": [(rng.standard_normal(3).astype(np.float32), i) for i in range(4)],
    "floats": [1.5, 2.0, -3.25],
    "ints": [1, 2, 3],
    "bools": [True, False],
    "mixed_int_float": [1, 2.5],
    "np_float32_scalars": [np.float32(1.5), np.float32(2)],
    "np_int32_scalars": [np.int32(1), np.int32(-2)],
    "np_bool_scalars": [np.bool_(True), np.bool_(False)],
    "dict": [{"x": rng.standard_normal((2, 2)), "y": 1.0, "s": "a"},
             {"x": rng.standard_normal((2, 2)), "y": 2.0, "s": "b"}],
    "namedtuple": [Point(np.arange(3, dtype=np.int16), 0.5), Point(np.arange(3, dtype=np.int16), 1.5)],
    "nested_lists": [[1, [2.0, np.uint8(3)]], [4, [5.0, np.uint8(6)]]],
    "strings": ["a", "bc"],
    "bytes": [b"a", b"b"],
    "zero_d_arrays": [np.array(1.0, np.float32), np.array(2.0, np.float32)],
    "tensors": [ember.Tensor._wrap(np.ones((2, 3), np.float64)), ember.Tensor._wrap(np.zeros((2, 3), np.float64))],
    "tuple_of_tensor_and_dict": [(ember.Tensor._wrap(np.arange(2, dtype=np.int64)), {"k": [1, 2]})] * 3,
}


@pytest.mark.parametrize("case", sorted(COLLATE_CASES))
def test_default_collate_matches_torch(case):
    batch = COLLATE_CASES[case]
    got = default_collate(batch)
    want = tud.default_collate([to_torch(s) for s in batch])
    assert_same_structure(got, want)


@pytest.mark.parametrize("sample", [np.arange(3), np.float32(2.0), (np.arange(2), 3), {"a": np.ones(2)}, 5, "s",
                                    Point(np.zeros(1), 1), [np.ones(1, np.int32)]])
def test_default_convert_matches_torch(sample):
    assert_same_structure(default_convert(sample), tud.default_convert(to_torch(sample)))


def test_collate_errors():
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match=r"each element in list of batch should be of equal size, got sizes \[2, 1\]"):
        default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match=r"equal size, got shapes \[\(2,\), \(3,\)\]"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="empty batch"):
        default_collate([])


# ---- datasets -----------------------------------------------------------------------------------


def test_tensor_dataset_and_size_mismatch():
    ds = tds(5)
    x, y = ds[3]
    assert x._data.tolist() == [6.0, 7.0] and int(y._data) == 3 and len(ds) == 5
    a, b = ember.Tensor._wrap(np.zeros((100, 2))), ember.Tensor._wrap(np.zeros(99))
    with pytest.raises(ValueError, match=r"size mismatch between tensors: their first dimensions are \[100, 99\]"):
        TensorDataset(a, b)
    with pytest.raises(ValueError, match="at least one dimension"):
        TensorDataset(ember.Tensor._wrap(np.float32(1)))


def test_subset_concat_chain_match_torch():
    base = list(range(10, 20))
    assert [Subset(base, [3, 1, 7])[i] for i in range(3)] == [tud.Subset(base, [3, 1, 7])[i] for i in range(3)]
    parts = [list(range(3)), list(range(10, 15)), [99]]
    e, t = ConcatDataset(parts), tud.ConcatDataset(parts)
    assert len(e) == len(t) and e.cumulative_sizes == t.cumulative_sizes
    assert [e[i] for i in range(-len(e), len(e))] == [t[i] for i in range(-len(t), len(t))]
    assert (Range(2) + Range(3))[4] == 2
    with pytest.raises(IndexError, match="index -10 is out of range for a dataset of length 9"):
        e[-10]
    with pytest.raises(ValueError, match="should not be an empty iterable"):
        ConcatDataset([])

    class It(IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

    assert list(ChainDataset([It(2), It(3)])) == [0, 1, 0, 1, 2] == list(It(2) + It(3))
    with pytest.raises(TypeError, match="does not support IterableDataset"):
        ConcatDataset([It(2)])


@pytest.mark.parametrize("n,lengths", [(10, [3, 7]), (10, [0.5, 0.5]), (11, [0.3, 0.3, 0.4]), (7, [0.1, 0.2, 0.7]),
                                       (100, [0.8, 0.1, 0.1]), (5, [5, 0, 0])])
def test_random_split_sizes_match_torch(n, lengths):
    with warnings.catch_warnings(record=True) as ew:
        warnings.simplefilter("always")
        got = random_split(range(n), lengths, generator=ember.Generator().manual_seed(0))
    with warnings.catch_warnings(record=True) as tw:
        warnings.simplefilter("always")
        want = tud.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in got] == [len(s) for s in want]
    assert len(ew) == len(tw)  # both warn about empty splits, or neither
    assert sorted(i for s in got for i in s.indices) == list(range(n))


def test_random_split_reproducible_and_errors():
    a = random_split(range(20), [10, 10], generator=ember.Generator().manual_seed(3))
    b = random_split(range(20), [10, 10], generator=ember.Generator().manual_seed(3))
    assert a[0].indices == b[0].indices
    ember.manual_seed(1)
    c = random_split(range(20), [10, 10])
    ember.manual_seed(1)
    assert random_split(range(20), [10, 10])[0].indices == c[0].indices
    with pytest.raises(ValueError, match=r"sum of input lengths \(9\) does not equal the length of the dataset \(10\)"):
        random_split(range(10), [4, 5])
    with pytest.raises(ValueError, match="non-negative integers"):
        random_split(range(10), [11, -1])
    with pytest.warns(UserWarning, match="length of split at index 1 is 0"):
        random_split(range(2), [0.9, 0.1])


# ---- samplers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("replacement,num_samples", [(False, None), (False, 25), (False, 3), (True, None), (True, 7)])
def test_random_sampler_length_and_content_match_torch(replacement, num_samples):
    data = range(10)
    e = list(RandomSampler(data, replacement=replacement, num_samples=num_samples))
    t = list(tud.RandomSampler(data, replacement=replacement, num_samples=num_samples))
    assert len(e) == len(t) == len(RandomSampler(data, replacement, num_samples))
    assert all(0 <= i < 10 for i in e)
    if not replacement:  # whole permutations one after another
        for k in range(0, len(e) - len(e) % 10, 10):
            assert sorted(e[k:k + 10]) == list(range(10))
        assert len(set(e[len(e) - len(e) % 10:])) == len(e) % 10


def test_random_sampler_reproducible_from_manual_seed_and_generator():
    ember.manual_seed(0)
    a = list(RandomSampler(range(50)))
    b = list(RandomSampler(range(50)))
    ember.manual_seed(0)
    assert list(RandomSampler(range(50))) == a and a != b
    g1, g2 = ember.Generator().manual_seed(5), ember.Generator().manual_seed(5)
    assert list(RandomSampler(range(50), generator=g1)) == list(RandomSampler(range(50), generator=g2))


def test_sampler_errors():
    with pytest.raises(ValueError, match=r"num_samples should be a positive integer value, but got num_samples=0 \(the dataset is empty\)"):
        RandomSampler([])
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 2, None)
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence but given weights have shape \(2, 2\)"):
        WeightedRandomSampler([[1, 2], [3, 4]], 2)
    with pytest.raises(ValueError, match="non-negative with a positive sum"):
        WeightedRandomSampler([1.0, -1.0], 2)
    with pytest.raises(ValueError, match="num_samples=3 without replacement from 2 indices"):
        WeightedRandomSampler([1.0, 0.0, 1.0], 3, replacement=False)


def test_subset_and_sequential_samplers():
    assert list(SequentialSampler(range(4))) == list(tud.SequentialSampler(range(4)))
    idx = [9, 4, 6, 2]
    s = SubsetRandomSampler(idx, generator=ember.Generator().manual_seed(0))
    assert sorted(s) == sorted(idx) and len(s) == len(tud.SubsetRandomSampler(idx)) == 4


def test_weighted_random_sampler_frequencies():
    w = [0.1, 0.0, 0.6, 0.3]
    s = WeightedRandomSampler(w, num_samples=20000, generator=ember.Generator().manual_seed(0))
    counts = np.bincount(list(s), minlength=4) / 20000
    assert counts[1] == 0
    np.testing.assert_allclose(counts, w, atol=0.015)
    no_rep = list(WeightedRandomSampler(w, 3, replacement=False))
    assert sorted(no_rep) == [0, 2, 3]
    assert len(s) == len(tud.WeightedRandomSampler(w, 20000)) == 20000


@pytest.mark.parametrize("n,bs,drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False), (2, 5, True)])
def test_batch_sampler_matches_torch(n, bs, drop):
    e = BatchSampler(SequentialSampler(range(n)), bs, drop)
    t = tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop)
    assert list(e) == list(t) and len(e) == len(t)
    assert list(BatchSampler(range(n), bs, drop)) == list(t)


# ---- DataLoader: batches, lengths, options ---------------------------------------------------------


@pytest.mark.parametrize("bs,drop", [(1, False), (3, False), (3, True), (10, False), (4, True), (None, False)])
def test_loader_batches_and_len_match_torch(bs, drop):
    n = 10
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    e = DataLoader(TensorDataset(ember.Tensor._wrap(x), ember.Tensor._wrap(np.arange(n))), batch_size=bs, drop_last=drop)
    t = tud.DataLoader(tud.TensorDataset(torch.from_numpy(x), torch.arange(n)), batch_size=bs, drop_last=drop)
    eb, tb = list(e), list(t)
    assert len(e) == len(t) == len(eb) == len(tb)
    for a, b in zip(eb, tb):
        assert_same_structure(a, b)


def test_tensor_dataset_fast_path_equals_generic_collation():
    ds = tds(13)
    fast = DataLoader(ds, batch_size=4, shuffle=True, generator=ember.Generator().manual_seed(1))
    slow = DataLoader(ds, batch_size=4, shuffle=True, generator=ember.Generator().manual_seed(1),
                      collate_fn=lambda b: default_collate(b))
    a, b = list(fast), list(slow)
    assert [to_list(x) for x in a] == [to_list(x) for x in b]
    sub = Subset(Subset(ds, [5, 3, 1, 12, 0]), [4, 2, 0])
    assert to_list(next(iter(DataLoader(sub, batch_size=3)))) == [[[0.0, 1.0], [2.0, 3.0], [10.0, 11.0]], [0, 1, 5]]
    assert all(type(x) is list and x[0].dtype == ember.float32 and x[1].dtype == ember.int64 for x in a)


def test_loader_shuffle_covers_dataset_and_is_reproducible():
    ds = tds(23)
    ember.manual_seed(0)
    first = [y for _, y in batches_as_lists(DataLoader(ds, batch_size=5, shuffle=True))]
    ember.manual_seed(0)
    again = [y for _, y in batches_as_lists(DataLoader(ds, batch_size=5, shuffle=True))]
    assert first == again
    assert sorted(i for b in first for i in b) == list(range(23)) and sum(first, []) != list(range(23))
    ember.manual_seed(1)
    assert [y for _, y in batches_as_lists(DataLoader(ds, batch_size=5, shuffle=True))] != first
    loader = DataLoader(ds, batch_size=5, shuffle=True, generator=ember.Generator().manual_seed(7))
    ep1, ep2 = batches_as_lists(loader), batches_as_lists(loader)
    assert ep1 != ep2  # a new order each epoch
    loader2 = DataLoader(ds, batch_size=5, shuffle=True, generator=ember.Generator().manual_seed(7))
    assert batches_as_lists(loader2) == ep1 and batches_as_lists(loader2) == ep2


def test_default_generator_use_is_minimal():
    """A loader draws from ember's default generator once (first iteration) and only if it shuffles or uses
    workers, so adding a validation loader does not shift the training run's random numbers."""
    ember.manual_seed(0)
    want = ember.rand(3)._data.tolist()
    ember.manual_seed(0)
    for _ in range(2):
        list(DataLoader(Range(5), batch_size=2))
    assert ember.rand(3)._data.tolist() == want
    ember.manual_seed(0)
    shuffled = DataLoader(Range(5), batch_size=2, shuffle=True)
    list(shuffled)
    after_one = ember.rand(3)._data.tolist()
    ember.manual_seed(0)
    shuffled = DataLoader(Range(5), batch_size=2, shuffle=True)
    list(shuffled), list(shuffled), list(shuffled)
    assert ember.rand(3)._data.tolist() == after_one != want


def test_loader_with_explicit_samplers():
    ds = Range(10)
    s = SubsetRandomSampler([1, 3, 5], generator=ember.Generator().manual_seed(0))
    got = sum(batches_as_lists(DataLoader(ds, batch_size=2, sampler=s)), [])
    assert sorted(got) == [1, 3, 5]
    bs = BatchSampler(SequentialSampler(ds), 4, drop_last=True)
    assert batches_as_lists(DataLoader(ds, batch_sampler=bs)) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert batches_as_lists(DataLoader(ds, batch_size=None)) == list(range(10))
    assert batches_as_lists(DataLoader(ds, batch_size=3, collate_fn=lambda b: sum(b))) == [3, 12, 21, 9]


@pytest.mark.parametrize("kwargs,match", [
    (dict(batch_size=0), "batch_size must be a positive integer, or None to disable automatic batching; got batch_size=0"),
    (dict(batch_size=-2), "got batch_size=-2"),
    (dict(batch_size=True), "got batch_size=True"),
    (dict(num_workers=-1), "num_workers option should be a non-negative integer"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified in multiprocessing"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(sampler=[0, 1], shuffle=True), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive with batch_size"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
    (dict(multiprocessing_context="spawn"), "multiprocessing_context can only be used with multi-process loading"),
    (dict(num_workers=1, multiprocessing_context="nope"), "should specify a valid start method"),
])
def test_loader_option_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(Range(4), **kwargs)
    with pytest.raises(ValueError):  # torch agrees that it is an error
        tud.DataLoader(tud.TensorDataset(torch.zeros(4)), **kwargs)


class _StreamLogic:
    """Numbers 0..n-1, each worker taking every num_workers-th one (the same code for ember and torch)."""

    info = staticmethod(eud.get_worker_info)

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        w = self.info()
        start, step = (0, 1) if w is None else (w.id, w.num_workers)
        return iter(range(start, self.n, step))

    def __len__(self):
        return self.n


class Stream(_StreamLogic, IterableDataset):
    pass


class TStream(_StreamLogic, tud.IterableDataset):
    info = staticmethod(tud.get_worker_info)


def test_iterable_dataset_errors_and_batches():
    with pytest.raises(ValueError, match="expected unspecified shuffle option, but got shuffle=True"):
        DataLoader(Stream(5), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(Stream(5), sampler=[0])
    with pytest.raises(ValueError, match="expected unspecified batch_sampler option"):
        DataLoader(Stream(5), batch_sampler=[[0]])
    for bs, drop in [(2, False), (2, True), (None, False)]:
        e = DataLoader(Stream(5), batch_size=bs, drop_last=drop)
        t = tud.DataLoader(TStream(5), batch_size=bs, drop_last=drop)
        assert len(e) == len(t)
        assert batches_as_lists(e) == [to_list_t(b) for b in t]


def to_list_t(b):
    return b.tolist() if isinstance(b, torch.Tensor) else b


def test_empty_dataset_errors():
    with pytest.raises(ValueError, match=r"DataLoader: the dataset is empty \(len\(dataset\) == 0 for Range\)"):
        DataLoader(Range(0))
    with pytest.raises(ValueError, match=r"DataLoader: the dataset is empty after sampling and batching: 3 samples.*"
                                         r"batch_size=4 and drop_last=True give 0 batches"):
        DataLoader(Range(3), batch_size=4, drop_last=True)
    with pytest.raises(ValueError, match=r"DataLoader: the dataset is empty: this epoch produced no batches "
                                         r"\(the IterableDataset yielded no samples"):
        list(DataLoader(Stream(0)))
    with pytest.raises(ValueError, match="DataLoader: the dataset is empty: this epoch produced no batches"):
        list(DataLoader(Stream(0), num_workers=1))


def test_loader_attributes_are_frozen_and_iterator_len():
    loader = DataLoader(Range(10), batch_size=3)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 4
    assert len(iter(loader)) == 4


# ---- resume -------------------------------------------------------------------------------------


def _resume_case(make_loader, cut=(1, 2), reseed_with=123):
    """Run 2.5 epochs saving the position after ``cut`` = (epoch, batch); resume in a fresh loader."""
    ember.manual_seed(0)
    loader = make_loader()
    full, state = [], None
    for epoch in range(3):
        for i, b in enumerate(loader):
            full.append(to_list(b))
            if (epoch, i + 1) == cut:
                state = json.loads(json.dumps(loader.state_dict()))  # must be JSON-able
            if epoch == 2 and i == 1:
                break
    ember.manual_seed(reseed_with)  # the resumed run must not depend on the default generator
    fresh = make_loader()
    fresh.load_state_dict(state)
    resumed = []
    for epoch in range(2):
        for i, b in enumerate(fresh):
            resumed.append(to_list(b))
            if epoch == 1 and i == 1:
                break
    n_before = cut[0] * len(loader) + cut[1]
    return full, resumed, n_before


@pytest.mark.parametrize("workers,persistent", [(0, False), (2, False), (2, True)])
def test_exact_resume_mid_epoch(workers, persistent):
    make = lambda: DataLoader(tds(22), batch_size=4, shuffle=True, num_workers=workers, persistent_workers=persistent)
    full, resumed, n_before = _resume_case(make)
    assert len(resumed) == len(full) - n_before
    assert resumed == full[n_before:]


def test_exact_resume_at_epoch_boundary_and_with_generator():
    make = lambda: DataLoader(tds(12), batch_size=4, shuffle=True, generator=ember.Generator().manual_seed(3))
    full, resumed, n_before = _resume_case(make, cut=(0, 3))  # saved right after the last batch of epoch 0
    assert resumed == full[n_before:]
    make = lambda: DataLoader(tds(12), batch_size=5, sampler=RandomSampler(range(12), replacement=True))
    full, resumed, n_before = _resume_case(make, cut=(1, 1))
    assert resumed == full[n_before:]


@pytest.mark.parametrize("workers,persistent", [(0, False), (2, False), (2, True)])
def test_exact_resume_iterable_dataset(workers, persistent):
    make = lambda: DataLoader(Stream(11), batch_size=2, num_workers=workers, persistent_workers=persistent)
    full, resumed, n_before = _resume_case(make, cut=(1, 3))
    assert resumed == full[n_before:]


def test_state_dict_contents_and_errors():
    loader = DataLoader(tds(10), batch_size=3, shuffle=True)
    it = iter(loader)
    next(it)
    next(it)
    s = loader.state_dict()
    assert s["epoch"] == 0 and s["batches_yielded"] == 2 and s["in_epoch"] and s["num_batches"] == 4
    assert isinstance(s["base_seed"], int)
    list(it)
    assert loader.state_dict()["in_epoch"] is False
    with pytest.raises(ValueError, match="saved by a loader with 4 batches per epoch, but this one has 2"):
        DataLoader(tds(10), batch_size=5).load_state_dict(s)
    with pytest.raises(ValueError, match="expected a dict with keys"):
        loader.load_state_dict({"epoch": 1})
    with pytest.raises(ValueError, match="malformed state"):
        loader.load_state_dict(dict(s, batches_yielded=-1))


# ---- worker processes ---------------------------------------------------------------------------


class Pid(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return os.getpid()


class Noisy(Dataset):
    """A random 'augmentation' per sample, drawn from NumPy's global RNG and ember's."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        return i, float(np.random.rand()), float(ember.rand(1)._data[0])


class Failing(Dataset):
    def __init__(self, mode):
        self.mode = mode

    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            if self.mode == "raise":
                raise ValueError("bad sample 3")
            if self.mode == "exit":
                os._exit(7)
            if self.mode == "sleep":
                time.sleep(3)
        return i


def test_workers_match_single_process():
    for shuffle in (False, True):
        ember.manual_seed(0)
        single = batches_as_lists(DataLoader(tds(21), batch_size=4, shuffle=shuffle))
        ember.manual_seed(0)
        multi = batches_as_lists(DataLoader(tds(21), batch_size=4, shuffle=shuffle, num_workers=2, prefetch_factor=3))
        assert multi == single
    e = batches_as_lists(DataLoader(Stream(10), batch_size=2, num_workers=3))
    t = [to_list_t(b) for b in tud.DataLoader(TStream(10), batch_size=2, num_workers=3)]
    assert e == t  # the same round-robin order over workers as torch


def test_worker_randomness_is_per_batch_and_worker_count_independent():
    ember.manual_seed(0)
    one = batches_as_lists(DataLoader(Noisy(), batch_size=3, num_workers=1))
    ember.manual_seed(0)
    two = batches_as_lists(DataLoader(Noisy(), batch_size=3, num_workers=2))
    assert one == two
    draws = [v for b in one for v in b[1]]
    assert len(set(draws)) == len(draws)  # workers do not repeat each other's random streams


def test_exact_resume_with_random_transforms_in_workers():
    make = lambda: DataLoader(Noisy(), batch_size=3, shuffle=True, num_workers=2)
    full, resumed, n_before = _resume_case(make, cut=(1, 1))
    assert resumed == full[n_before:]


def test_persistent_workers_and_worker_init_fn(tmp_path):
    loader = DataLoader(Pid(), batch_size=4, num_workers=2, persistent_workers=True)
    pids1 = set(sum(batches_as_lists(loader), []))
    pids2 = set(sum(batches_as_lists(loader), []))
    assert pids1 == pids2 and len(pids1) == 2 and os.getpid() not in pids1
    loader = DataLoader(Pid(), batch_size=4, num_workers=2)
    assert set(sum(batches_as_lists(loader), [])) != set(sum(batches_as_lists(loader), []))

    def init(wid):
        info = eud.get_worker_info()
        (tmp_path / f"w{wid}").write_text(f"{info.id} {info.num_workers}")

    list(DataLoader(Range(4), num_workers=2, worker_init_fn=init))
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["0 2", "1 2"]
    assert eud.get_worker_info() is None


def test_abandoned_epoch_with_persistent_workers():
    loader = DataLoader(Range(20), batch_size=2, num_workers=2, persistent_workers=True)
    it = iter(loader)
    assert to_list(next(it)) == [0, 1]
    assert batches_as_lists(loader) == [[2 * i, 2 * i + 1] for i in range(10)]


def test_abandoned_iterator_stops_its_workers():
    loader = DataLoader(Range(40), batch_size=2, num_workers=2)
    it = iter(loader)
    next(it)
    procs = list(it._pool.procs)
    assert all(p.is_alive() for p in procs)
    del it  # no cycle keeps it alive: its workers are shut down right away
    assert not any(p.is_alive() for p in procs)


def test_batches_keep_autograd_history():
    x = ember.randn(4, 2, requires_grad=True)
    (xb,) = next(iter(DataLoader(TensorDataset(x), batch_size=3)))
    assert xb.requires_grad
    xb.sum().backward()
    np.testing.assert_array_equal(x.grad._data, [[1, 1]] * 3 + [[0, 0]])


def test_worker_errors():
    with pytest.raises(ValueError, match=r"(?s)Caught ValueError in DataLoader worker process \d.*bad sample 3"):
        list(DataLoader(Failing("raise"), batch_size=2, num_workers=2))
    with pytest.raises(RuntimeError, match=r"DataLoader worker \d \(pid \d+\) exited unexpectedly with exit code 7"):
        list(DataLoader(Failing("exit"), batch_size=2, num_workers=2))
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.5 seconds"):
        list(DataLoader(Failing("sleep"), batch_size=2, num_workers=1, timeout=0.5))

    def bad_init(wid):
        raise KeyError("no such thing")

    with pytest.raises(KeyError, match="(?s)Caught KeyError in DataLoader worker process.*no such thing") as info:
        list(DataLoader(Range(4), num_workers=1, worker_init_fn=bad_init))
    assert "\\n" not in str(info.value)  # the worker's traceback reads as text, not an escaped repr


def test_spawn_start_method():
    loader = DataLoader(tds(6), batch_size=4, num_workers=1, multiprocessing_context="spawn")
    assert batches_as_lists(loader) == batches_as_lists(DataLoader(tds(6), batch_size=4))


def test_docstring_examples_run():
    import doctest

    import ember.utils.data._collate as m1
    import ember.utils.data._worker as m2
    import ember.utils.data.dataloader as m3
    import ember.utils.data.dataset as m4
    import ember.utils.data.sampler as m5

    globs = dict(np=np, ember=ember, **{k: getattr(eud, k) for k in eud.__all__})
    for m in (m1, m2, m3, m4, m5):
        result = doctest.testmod(m, extraglobs=globs, optionflags=doctest.ELLIPSIS, report=False)
        assert result.failed == 0 and result.attempted > 0, (m.__name__, result)
