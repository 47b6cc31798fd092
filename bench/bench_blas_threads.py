"""NumPy matmul at 1 vs 2 OpenBLAS threads for the GEMM shapes of the bench/ workloads.

    python bench/bench_blas_threads.py [--rounds N] [--target S] [--only substring]

For issue 10's question "keep OpenBLAS from using threads for GEMMs too small to gain from them": each shape
runs blocks of consecutive calls (about ``--target`` seconds, default 0.05) at one thread and at two
(threadpoolctl's limit on NumPy's BLAS, set outside the timed block), the two blocks alternating and their
order swapped every round, for ``--rounds`` rounds (default 9). Wall clock (CPU time would sum the two threads'
time). Per shape it prints the median time per call at each thread count and the median [min-max] of the
per-round ratios 2 threads / 1 thread: below 1 means the second thread helps. On a shared machine the
two-thread blocks suffer most from neighbours; run it more than once and compare ranges.
It also times one call of OpenBLAS's own ``openblas_set_num_threads`` through ctypes (the price of a
per-GEMM thread policy).
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import environment  # noqa: E402

# (name, shape of a, shape of b, transpose a?[, transpose b?]) -- a @ b with float32 operands; a transposed
# operand is a view of a C-contiguous array of the transposed shape, as the workloads pass them
SHAPES = [
    ("MLP fc1 fwd x@W.T (view)", (128, 784), (512, 784), False, True),
    ("MLP fc1 fwd x@Wt (contig.)", (128, 784), (784, 512), False),
    ("MLP fc1 dW g.T@x", (128, 512), (128, 784), True),
    ("MLP fc1 dx g@W", (128, 512), (512, 784), False),
    ("MLP fc2 fwd", (128, 512), (512, 256), False),
    ("MLP fc3 fwd", (128, 256), (256, 10), False),
    ("LSTMCell step W@x.T", (512, 128), (128, 32), False),
    ("LSTM step h@W.T", (32, 128), (128, 512), False),
    ("GRU step batched h@W3", (32, 128), (3, 128, 128), False),
    ("RNN step h@W", (32, 128), (128, 128), False),
    ("probe (32,128)@(128,256)", (32, 128), (128, 256), False),
    ("probe (64,128)@(128,192)", (64, 128), (128, 192), False),
    ("nn.LSTM input proj", (1024, 129), (4, 129, 128), False),
    ("transformer lin1 fwd", (1024, 128), (128, 512), False),
    ("transformer lin2 fwd", (1024, 512), (512, 128), False),
    ("transformer qkv fwd", (1024, 128), (128, 384), False),
    ("transformer dW g.T@x", (1024, 512), (1024, 128), True),
    ("attention QK^T (64 heads)", (64, 64, 32), (64, 32, 64), False),
    ("attention PV (64 heads)", (64, 64, 64), (64, 64, 32), False),
    ("CNN conv2 im2col GEMM", (4096, 800), (800, 64), False),
    ("CNN conv1 im2col GEMM", (36864, 25), (25, 32), False),
]


def _operands(sa, sb, ta, tb, rng):
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    return (a.T if ta else a), (b.T if tb else b)


def _block(a, b, n):
    t0 = time.perf_counter()
    for _ in range(n):
        np.matmul(a, b)
    return (time.perf_counter() - t0) / n


def measure_shape(a, b, rounds, target):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        _block(a, b, 3)
        t1 = _block(a, b, 5)
    n = max(3, min(5000, int(target / max(t1, 1e-7))))
    times = {1: [], 2: []}
    for r in range(rounds):
        for k in ((1, 2) if r % 2 == 0 else (2, 1)):
            with threadpool_limits(limits=k, user_api="blas"):
                _block(a, b, 2)  # wake the pool / settle after the switch
                times[k].append(_block(a, b, n))
    ratios = [y / x for x, y in zip(times[1], times[2])]
    return statistics.median(times[1]), statistics.median(times[2]), ratios, n


def set_threads_cost():
    """Seconds per call of OpenBLAS's set_num_threads through ctypes (None where the symbol is not found)."""
    import ctypes

    from threadpoolctl import threadpool_info

    for info in threadpool_info():
        if info.get("internal_api") != "openblas":
            continue
        lib = ctypes.CDLL(info["filepath"])
        for sym in ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_"):
            fn = getattr(lib, sym, None)
            if fn is None:
                continue
            fn.argtypes = [ctypes.c_int]
            getn = getattr(lib, sym.replace("set_num_threads", "get_num_threads"))
            prev = getn()
            n = 20000
            t0 = time.perf_counter()
            for i in range(n):
                fn(1 + (i & 1))
            dt = (time.perf_counter() - t0) / n
            fn(prev)
            return sym, dt
    return None, None


def main(argv):
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 9
    target = float(argv[argv.index("--target") + 1]) if "--target" in argv else 0.05
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    for line in environment():
        print(line)
    print(f"float32 np.matmul, blocks of ~{target} s per thread count, alternating, {rounds} rounds, wall clock; "
          "ratio = 2 threads / 1 thread per round, median [min-max]")
    rng = np.random.default_rng(0)
    rows = []
    for name, sa, sb, ta, *tb in SHAPES:
        if only and only not in name:
            continue
        a, b = _operands(sa, sb, ta, bool(tb and tb[0]), rng)
        flop = 2 * np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) or (1,)) * a.shape[-2] * a.shape[-1] * b.shape[-1]
        m1, m2, ratios, n = measure_shape(a, b, rounds, target)
        rows.append((name, flop, m1, m2, ratios))
        print(f"{name:<28} {flop / 1e6:8.2f} MFLOP  1T {m1 * 1e6:9.1f} us  2T {m2 * 1e6:9.1f} us  "
              f"2T/1T {statistics.median(ratios):5.2f} [{min(ratios):.2f}-{max(ratios):.2f}]  ({n} calls/block)",
              flush=True)
    sym, dt = set_threads_cost()
    if sym:
        print(f"ctypes {sym}(n): {dt * 1e6:.2f} us per call")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
