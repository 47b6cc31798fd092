"""``ember.quasirandom``: ``SobolEngine``, torch's Sobol sequence generator, draw for draw.

The direction numbers are Joe & Kuo's (new-joe-kuo-6.21201, the table torch and SciPy use); ember ships the
first 1111 dimensions (``src/ember/_sobol_directions.npz``, written by ``tools/make_sobol_table.py``), so
``SobolEngine(d)`` takes ``1 <= d <= 1111`` (torch: 21201). Unscrambled draws equal torch's exactly, and so do
scrambled ones with a ``seed`` (the scramble's random bits come from MT19937 seeded as torch's CPU generator
is). ``scramble=True`` without a seed draws the bits from ``ember.default_generator``, whose stream differs
from torch's global one.

>>> eng = ember.quasirandom.SobolEngine(2)
>>> eng.draw(4)
tensor([[0.0000, 0.0000],
        [0.5000, 0.5000],
        [0.7500, 0.2500],
        [0.2500, 0.7500]])
"""
from __future__ import annotations

import os

import numpy as np

from . import _dtype as D
from ._tensor import Tensor

__all__ = ["SobolEngine"]

_TABLE: dict = {}


def _directions():
    if not _TABLE:
        path = os.path.join(os.path.dirname(__file__), "_sobol_directions.npz")
        with np.load(path, allow_pickle=False) as f:
            poly = f["poly"].astype(np.int64)
            flat = f["vinit"].astype(np.int64)
        ms = np.array([int(p).bit_length() - 1 for p in poly])
        starts = np.concatenate([[0], np.cumsum(ms)])
        _TABLE.update(poly=poly, m=ms, vinit=[flat[starts[i]:starts[i + 1]] for i in range(len(poly))])
    return _TABLE


def _initial_state(dimension, maxbit):
    """torch's ``_sobol_engine_initialize_state_``: direction numbers of each dimension, scaled to ``maxbit``
    bits (row 0 is the van der Corput sequence)."""
    t = _directions()
    v = np.zeros((dimension, maxbit), np.int64)
    v[0, :] = 1
    for d in range(1, dimension):
        p, m = int(t["poly"][d]), int(t["m"][d])
        v[d, :m] = t["vinit"][d]
        for j in range(m, maxbit):
            newv = int(v[d, j - m])
            pow2 = 1
            for k in range(m):
                pow2 <<= 1
                if (p >> (m - 1 - k)) & 1:
                    newv ^= pow2 * int(v[d, j - k - 1])
            v[d, j] = newv
    return v * (np.int64(2) ** np.arange(maxbit - 1, -1, -1, dtype=np.int64))


def _torch_cpu_bits(seed, n):
    """``n`` draws of ``torch.randint(2, ..., generator=torch.Generator().manual_seed(seed))``: torch's CPU
    generator is MT19937 seeded with the low 32 bits, and randint(2) takes each 32-bit output modulo 2."""
    rs = np.random.RandomState(int(seed) & 0xFFFF_FFFF)
    bg = np.random.MT19937()
    bg.state = rs.get_state(legacy=False)
    return (bg.random_raw(n) % 2).astype(np.int64)


def _rightmost_zero(n):
    """Index of the lowest zero bit of ``n`` (torch's ``rightmost_zero`` minus one: a column of sobolstate)."""
    return ((~n) & (n + 1)).bit_length() - 1


class SobolEngine:
    """Draws from the (scrambled) Sobol sequence, as ``torch.quasirandom.SobolEngine``.

    ``dimension``: 1 to 1111 (ember's table); ``scramble``: random linear matrix scrambling and digital shift
    (Owen); ``seed``: the scramble's seed (torch's values exactly).
    """

    MAXBIT = 30
    MAXDIM = 1111  # torch: 21201 (ember ships the first 1111 dimensions of the same table)

    def __init__(self, dimension, scramble=False, seed=None):
        if isinstance(dimension, bool) or not isinstance(dimension, (int, np.integer)):
            raise TypeError(f"SobolEngine: dimension must be an int, got {type(dimension).__name__}")
        if dimension > self.MAXDIM or dimension < 1:
            more = (" (torch goes to 21201 with the same table; ember ships its first 1111 dimensions)"
                    if dimension > self.MAXDIM else "")
            raise ValueError(f"Supported range of dimensionality for SobolEngine is [1, {self.MAXDIM}], got "
                             f"{dimension}{more}")
        self.seed = seed
        self.scramble = scramble
        self.dimension = int(dimension)
        self.sobolstate = _initial_state(self.dimension, self.MAXBIT)
        if not self.scramble:
            self.shift = np.zeros(self.dimension, np.int64)
        else:
            self._scramble()
        self.quasi = self.shift.copy()
        dt = D.get_default_dtype().np  # torch divides the int64 shift in the default dtype
        self._first_point = (self.quasi.astype(dt) / dt.type(2 ** self.MAXBIT)).reshape(1, -1)
        self.num_generated = 0

    def _bits(self, n):
        if self.seed is not None:
            return _torch_cpu_bits(self.seed, n)
        from ._random import default_generator

        return default_generator.np.integers(0, 2, size=n, dtype=np.int64)

    def _scramble(self):
        d, mb = self.dimension, self.MAXBIT
        bits = self._bits(d * mb + d * mb * mb)
        shift_ints = bits[: d * mb].reshape(d, mb)
        self.shift = shift_ints @ (np.int64(2) ** np.arange(mb, dtype=np.int64))
        ltm = np.tril(bits[d * mb:].reshape(d, mb, mb))
        ltm[:, np.arange(mb), np.arange(mb)] = 1  # torch's _sobol_engine_scramble_: diagonals are 1
        rows = ltm @ (np.int64(2) ** np.arange(mb - 1, -1, -1, dtype=np.int64))  # (d, p): row p as an integer
        # new v[d, j] = sum_p parity(rows[d, p] & v[d, j]) * 2**(mb - 1 - p)
        par = np.bitwise_count(rows[:, None, :] & self.sobolstate[:, :, None]) & 1  # (d, j, p)
        self.sobolstate = par.astype(np.int64) @ (np.int64(2) ** np.arange(mb - 1, -1, -1, dtype=np.int64))

    def _advance(self, n, start, out_dtype=None):
        """XOR ``n`` direction columns into ``quasi`` from index ``start`` of the Gray-code order; the states
        after each step as rows when ``out_dtype`` is given."""
        if n <= 0:
            return np.zeros((0, self.dimension), out_dtype) if out_dtype is not None else None
        cols = np.fromiter((_rightmost_zero(i) for i in range(start, start + n)), np.int64, n)
        if out_dtype is None:
            self.quasi = self.quasi ^ np.bitwise_xor.reduce(self.sobolstate[:, cols], axis=1)
            return None
        rows = np.bitwise_xor.accumulate(self.sobolstate[:, cols].T, axis=0) ^ self.quasi
        self.quasi = rows[-1].copy()
        return rows.astype(out_dtype) * out_dtype.type(1.0 / (1 << self.MAXBIT))

    def draw(self, n=1, out=None, dtype=None):
        """The next ``n`` points as an ``(n, dimension)`` tensor of ``dtype`` (default: the default dtype)."""
        dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
        if not dt.is_floating_point:
            raise RuntimeError(f"SobolEngine.draw: dtype must be a floating dtype, got {dt}")
        n = int(n)
        if n < 0:
            raise ValueError(f"SobolEngine.draw: n must be non-negative, got {n}")
        if self.num_generated == 0:
            first = self._first_point.astype(dt.np)
            if n == 1:
                result = first
            else:
                result = np.concatenate([first, self._advance(n - 1, 0, dt.np)], axis=0)
        else:
            result = self._advance(n, self.num_generated - 1, dt.np)
        self.num_generated += n
        res = Tensor._wrap(result)
        if out is not None:
            out.resize_as_(res).copy_(res)
            return out
        return res

    def draw_base2(self, m, out=None, dtype=None):
        """The next ``2**m`` points; the total drawn must stay a power of 2 (the sequence's balance)."""
        n = 2 ** m
        total_n = self.num_generated + n
        if not (total_n & (total_n - 1) == 0):
            raise ValueError(
                "The balance properties of Sobol' points require "
                f"n to be a power of 2. {self.num_generated} points have been "
                f"previously generated, then: n={self.num_generated}+2**{m}={total_n}. "
                "If you still want to do this, please use "
                "'SobolEngine.draw()' instead."
            )
        return self.draw(n=n, out=out, dtype=dtype)

    def reset(self):
        """Back to the first point."""
        self.quasi = self.shift.copy()
        self.num_generated = 0
        return self

    def fast_forward(self, n):
        """Skip ``n`` points."""
        n = int(n)
        if self.num_generated == 0:
            self._advance(n - 1, 0)
        else:
            self._advance(n, self.num_generated - 1)
        self.num_generated += n
        return self

    def __repr__(self):
        fmt_string = [f"dimension={self.dimension}"]
        if self.scramble:
            fmt_string += ["scramble=True"]
        if self.seed is not None:
            fmt_string += [f"seed={self.seed}"]
        return self.__class__.__name__ + "(" + ", ".join(fmt_string) + ")"
