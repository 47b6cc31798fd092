"""Side-by-side timing of ember and torch in one process.

Each framework runs a *block* of consecutive steps (never single steps alternated with the other
framework: that evicts each one's caches and wakes torch's thread pool for every step); blocks of the two
frameworks alternate, with the order swapped every round, for several rounds. Every round gives one
ember/torch ratio from two adjacent blocks; we report the median step times and the median and range
(min-max) of the per-round ratios. Thread counts are set for both at run time: ``torch.set_num_threads`` and
threadpoolctl's limit on NumPy's BLAS (OpenBLAS here).
"""
from __future__ import annotations

import os
import platform
import statistics
import time


def torch_threads(n=None):
    import torch

    torch.set_num_threads(n or min(2, os.cpu_count() or 1))
    return torch


class Threads:
    """``with Threads(n):`` both torch and NumPy's BLAS use ``n`` threads."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        import torch
        from threadpoolctl import threadpool_limits

        self._torch_prev = torch.get_num_threads()
        torch.set_num_threads(self.n)
        self._limit = threadpool_limits(limits=self.n, user_api="blas")
        return self

    def __exit__(self, *exc):
        import torch

        self._limit.restore_original_limits()
        torch.set_num_threads(self._torch_prev)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _block_time(fn, n, clock=time.perf_counter):
    t0 = clock()
    for _ in range(n):
        fn()
    return (clock() - t0) / n


def calibrate(fn, target_s=0.25, max_n=200):
    """Steps per block so that a block takes about ``target_s``."""
    t = _block_time(fn, 1)
    return max(1, min(max_n, int(target_s / max(t, 1e-6))))


def measure(workloads, rounds=7, block=None, warmup=2, target_s=0.25, clock="wall"):
    """workloads: dict name -> zero-arg step. Returns dict name -> list of per-step seconds, one per round
    (each from a block of ``block`` consecutive steps; blocks alternate between the workloads).

    ``clock="cpu"`` times blocks by the process's CPU time instead of wall time: on a machine shared with
    other jobs, time spent waiting for a core then counts for neither framework (meaningful at one thread;
    with more threads it sums the threads' CPU time)."""
    tick = CLOCKS[clock]
    names = list(workloads)
    for fn in workloads.values():
        for _ in range(warmup):
            fn()
    if block is None:
        block = max(1, min(calibrate(fn, target_s) for fn in workloads.values()))
    times = {k: [] for k in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for k in order:
            times[k].append(_block_time(workloads[k], block, tick))
    return times


def summary(times, a="ember", b="torch"):
    """Median seconds of ``a`` and ``b`` and the median / min / max of the per-round ratios a/b."""
    ratios = [x / y for x, y in zip(times[a], times[b])]
    return {
        a: statistics.median(times[a]), b: statistics.median(times[b]),
        "ratio": statistics.median(ratios), "lo": min(ratios), "hi": max(ratios),
    }


def fmt_ratio(s):
    return f"{s['ratio']:5.2f}x [{s['lo']:.2f}-{s['hi']:.2f}]"


def report(title, med, base="torch", other="ember", unit_div=1.0, unit="ms", scale=1e3):
    """Print one line from ``measure``'s result (lists per workload) or from plain medians."""
    if isinstance(med[other], list):
        s = summary(med, other, base)
    else:
        s = {other: med[other], base: med[base], "ratio": med[other] / med[base]}
        s["lo"] = s["hi"] = s["ratio"]
    print(f"{title:<44} ember {s[other] * scale / unit_div:9.3f} {unit}   torch {s[base] * scale / unit_div:9.3f} {unit}"
          f"   ember/torch {fmt_ratio(s)}")
    return s["ratio"]


def environment():
    """Lines describing the machine, the libraries, BLAS and the thread settings."""
    import numpy as np
    import torch

    lines = []
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    lines.append(f"machine: {cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, "
                 f"load average {' '.join(f'{x:.2f}' for x in load)}")
    lines.append(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__} "
                 f"(torch threads now {torch.get_num_threads()}, interop {torch.get_num_interop_threads()})")
    try:
        from threadpoolctl import threadpool_info

        for p in threadpool_info():
            lines.append(f"  threadpool: {p.get('internal_api')} {p.get('version') or ''} "
                         f"({p.get('architecture', '-')}) threads={p.get('num_threads')} "
                         f"{os.path.basename(p.get('filepath', ''))}")
    except ImportError:
        lines.append("  threadpoolctl not installed: NumPy's BLAS thread count is not controlled")
    envs = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    lines.append(f"  environment: {envs or 'no thread variables set'}")
    return lines
