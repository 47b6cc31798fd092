"""``ember.nn.utils.rnn``: ``PackedSequence`` and the padding helpers (``pack_padded_sequence``,
``pad_packed_sequence``, ``pad_sequence``, ``pack_sequence``, ``unpack_sequence``, ``unpad_sequence``), with
torch's data layout (time-major, batch sizes per step, sorted/unsorted indices) so ``RNN``/``LSTM``/``GRU``
accept packed input.

>>> from ember.nn.utils.rnn import pack_sequence, pad_packed_sequence
>>> packed = pack_sequence([ember.tensor([1., 2., 3.]), ember.tensor([4., 5.])])
>>> packed.batch_sizes.tolist()
[2, 2, 1]
>>> pad_packed_sequence(packed, batch_first=True)[0].tolist()
[[1.0, 2.0, 3.0], [4.0, 5.0, 0.0]]
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ... import _ops as O
from ..._tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]


def _i64(a):
    return Tensor._wrap(np.asarray(a, dtype=np.int64))


class _PackedSequenceBase(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceBase):
    """Variable-length sequences stored time step by time step: ``data`` holds the ``batch_sizes[t]`` rows
    of step ``t`` one after the other (sequences sorted by decreasing length)."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            raise TypeError("PackedSequence: batch_sizes is required (build packed sequences with pack_padded_sequence)")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _map(self, fn):
        return type(self)(fn(self.data), self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(data, self.batch_sizes, self.sorted_indices,
                                                         self.unsorted_indices)

    def cpu(self):
        return self

    def double(self):
        return self._map(lambda d: d.double())

    def float(self):
        return self._map(lambda d: d.float())

    def detach(self):
        return self._map(lambda d: d.detach())

    @property
    def is_cuda(self):
        return False

    def is_pinned(self):
        return False


def invert_permutation(permutation):
    if permutation is None:
        return None
    p = permutation._data if isinstance(permutation, Tensor) else np.asarray(permutation)
    out = np.empty_like(p)
    out[p] = np.arange(p.size, dtype=p.dtype)
    return _i64(out)


def _lengths_array(lengths, op):
    a = lengths._data if isinstance(lengths, Tensor) else np.asarray(lengths)
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise RuntimeError(f"{op}: lengths must be integers (a list or an int64 tensor), got {a.dtype}")
    a = a.astype(np.int64).reshape(-1)
    return a


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):  # noqa: A002
    """Pack a padded (T, B, *) (or (B, T, *) with ``batch_first``) batch of sequences of the given lengths."""
    op = "pack_padded_sequence"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be an ember Tensor, got {type(input).__name__}")
    lens = _lengths_array(lengths, op)
    b_dim = 0 if batch_first else 1
    if input.ndim < 2 or lens.size != input.shape[b_dim]:
        raise RuntimeError(
            f"{op}: expected one length per sequence: input of shape {tuple(input.shape)} has "
            f"{input.shape[b_dim] if input.ndim >= 2 else '?'} sequences along dim {b_dim}, got {lens.size} lengths"
        )
    if (lens <= 0).any():
        raise RuntimeError(
            f"{op}: Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0 "
            f"({lens.tolist()})"
        )
    x = input.transpose(0, 1) if batch_first else input
    if lens.max() > x.shape[0]:
        raise RuntimeError(f"{op}: a length ({int(lens.max())}) exceeds the padded sequence length {x.shape[0]}")
    if enforce_sorted:
        if (np.diff(lens) > 0).any():
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement if "
                "you do not need ONNX exportability."
            )
        sorted_idx = None
        slens = lens
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_idx = order
        slens = lens[order]
        x = O.index_select(x, 1, _i64(order))
    t_max = int(slens[0])
    batch_sizes = np.array([(slens > t).sum() for t in range(t_max)], dtype=np.int64)
    tt = np.concatenate([np.full(bs, t) for t, bs in enumerate(batch_sizes)])
    bb = np.concatenate([np.arange(bs) for bs in batch_sizes])
    data = x[_i64(tt), _i64(bb)]
    sidx = None if sorted_idx is None else _i64(sorted_idx)
    return PackedSequence(data, _i64(batch_sizes), sidx, invert_permutation(sidx))


def _packed_positions(batch_sizes):
    """For each (t, b) of the sorted batch: the row of ``data`` holding it, and whether it exists."""
    bs = batch_sizes._data if isinstance(batch_sizes, Tensor) else np.asarray(batch_sizes)
    b = int(bs[0]) if bs.size else 0
    starts = np.concatenate([[0], np.cumsum(bs)[:-1]])
    pos = starts[:, None] + np.arange(b)[None, :]
    valid = np.arange(b)[None, :] < bs[:, None]
    return np.where(valid, pos, 0).astype(np.int64), valid


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of ``pack_padded_sequence``: (padded tensor, lengths) in the original batch order."""
    op = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{op}: expected a PackedSequence, got {type(sequence).__name__}")
    pos, valid = _packed_positions(sequence.batch_sizes)
    t_max, b = pos.shape
    if total_length is not None:
        if total_length < t_max:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {t_max}"
            )
        extra = total_length - t_max
        pos = np.concatenate([pos, np.zeros((extra, b), dtype=np.int64)])
        valid = np.concatenate([valid, np.zeros((extra, b), dtype=bool)])
    data = sequence.data
    out = data[_i64(pos)]                     # (T, B, *)
    mask = valid.reshape(valid.shape + (1,) * (data.ndim - 1))
    out = O.where(Tensor._wrap(mask), out, O.full_like(out, padding_value))
    lengths = valid.sum(0).astype(np.int64)
    if sequence.unsorted_indices is not None:
        un = sequence.unsorted_indices
        out = O.index_select(out, 1, un)
        lengths = lengths[un._data]
    if batch_first:
        out = out.transpose(0, 1)
    return out, _i64(lengths)


def _repack(padded, like):
    """Pack a (T, B, *) tensor in the caller's batch order with the layout of the PackedSequence ``like``."""
    x = padded if like.sorted_indices is None else O.index_select(padded, 1, like.sorted_indices)
    bs = like.batch_sizes._data
    tt = np.concatenate([np.full(b, t) for t, b in enumerate(bs)])
    bb = np.concatenate([np.arange(b) for b in bs])
    return PackedSequence(x[_i64(tt), _i64(bb)], like.batch_sizes, like.sorted_indices, like.unsorted_indices)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into (L_max, B, *) (or (B, L_max, *)), padding with ``padding_value``."""
    op = "pad_sequence"
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError(f"{op}: received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise ValueError(f"{op}: Expected padding_side to be one of left or right, but got {padding_side}.")
    trail = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"{op}: sequence {i} is a {type(s).__name__}, expected an ember Tensor")
        if tuple(s.shape[1:]) != trail:
            raise RuntimeError(
                f"{op}: all sequences must have the same trailing shape; sequence 0 has {tuple(sequences[0].shape)} "
                f"and sequence {i} has {tuple(s.shape)}"
            )
    from .. import functional as F

    n = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = n - s.shape[0]
        widths = [0, 0] * len(trail) + ([0, extra] if padding_side == "right" else [extra, 0])
        padded.append(F.pad(s, tuple(widths), value=padding_value) if extra else s)
    return O.stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Split a padded batch back into a list of tensors of the given lengths."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    lens = _lengths_array(lengths, "unpad_sequence")
    return [x[i, :int(ln)] for i, ln in enumerate(lens)]


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of (L_i, *) tensors (``enforce_sorted``: they must come longest first)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of tensors that ``pack_sequence`` packed."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
