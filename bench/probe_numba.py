"""Does a numba kernel beat NumPy for the LSTM's per-step pointwise work? (issue 10's optional ``ember[fast]``)

    pip install numba && python bench/probe_numba.py

One LSTM time step's gates and cell update at h128, batch 32, float32, one thread: NumPy's in-place ufunc
sequence as in ``nn/_functional_rnn.py`` against one fused numba loop. Prints microseconds per step. ember
does not ship a numba path: on the machines measured the fused loop was ~14x slower, because numba's scalar
tanh is far slower than NumPy's vectorised one (docs/performance.md, "Optional compiled kernels").
"""
from __future__ import annotations

import time

import numpy as np


def numpy_step(a, gh, c_prev, c, tc, h, tmp):
    a += gh
    np.tanh(a, out=a)  # sigmoid(x) = (1 + tanh(x / 2)) / 2: the i, f, o rows come pre-halved
    s = a[1:]
    s *= 0.5
    s += 0.5
    np.multiply(a[2], c_prev, out=c)
    np.multiply(a[1], a[0], out=tmp)
    c += tmp
    np.tanh(c, out=tc)
    np.multiply(tc, a[3], out=h)


def make_numba_step(numba):
    @numba.njit(fastmath=True)
    def step(a, gh, c_prev, c, tc, h):
        for b in range(c_prev.shape[0]):
            for j in range(c_prev.shape[1]):
                g = np.tanh(a[0, b, j] + gh[0, b, j])
                i = np.float32(0.5) * np.tanh(a[1, b, j] + gh[1, b, j]) + np.float32(0.5)
                f = np.float32(0.5) * np.tanh(a[2, b, j] + gh[2, b, j]) + np.float32(0.5)
                o = np.float32(0.5) * np.tanh(a[3, b, j] + gh[3, b, j]) + np.float32(0.5)
                a[0, b, j], a[1, b, j], a[2, b, j], a[3, b, j] = g, i, f, o
                cc = f * c_prev[b, j] + i * g
                c[b, j] = cc
                t = np.tanh(cc)
                tc[b, j] = t
                h[b, j] = t * o

    return step


def per_call_us(fn, n=2000, rounds=9):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t) / n)
    return float(np.median(times)) * 1e6


def main():
    try:
        import numba
    except ImportError:
        print("numba is not installed: pip install numba")
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    rng = np.random.default_rng(0)
    B, H = 32, 128
    a0 = rng.standard_normal((4, B, H)).astype(np.float32)
    gh = rng.standard_normal((4, B, H)).astype(np.float32)
    c_prev = rng.standard_normal((B, H)).astype(np.float32)
    c, tc, h, tmp = (np.empty((B, H), np.float32) for _ in range(4))
    nb_step = make_numba_step(numba)
    a1, a2 = a0.copy(), a0.copy()
    numpy_step(a1, gh, c_prev, c, tc, h, tmp)
    h_np = h.copy()
    nb_step(a2, gh, c_prev, c, tc, h)  # compiles
    print(f"max difference numpy/numba: h {np.abs(h - h_np).max():.2e}, gates {np.abs(a1 - a2).max():.2e}")
    copy = per_call_us(lambda: a0.copy())
    t_np = per_call_us(lambda: numpy_step(a0.copy(), gh, c_prev, c, tc, h, tmp)) - copy
    t_nb = per_call_us(lambda: nb_step(a0.copy(), gh, c_prev, c, tc, h)) - copy
    print(f"LSTM step pointwise, h{H} b{B}, 1 thread: numpy {t_np:.1f} us   numba {t_nb:.1f} us   numba/numpy {t_nb / t_np:.1f}x")


if __name__ == "__main__":
    main()
