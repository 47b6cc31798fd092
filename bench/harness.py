"""Side-by-side timing: run an ember workload and a torch workload interleaved in one process and print
medians and the ember/torch ratio. Machines are noisy: interleaving and medians keep the ratio honest."""
from __future__ import annotations

import statistics
import time


def measure(workloads, repeats=30, warmup=3, inner=1):
    """workloads: dict name -> zero-arg callable. Returns dict name -> median seconds per call."""
    for fn in workloads.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in workloads}
    for _ in range(repeats):
        for k, fn in workloads.items():  # interleaved
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times[k].append((time.perf_counter() - t0) / inner)
    return {k: statistics.median(v) for k, v in times.items()}


def report(title, med, base="torch", other="ember", unit_div=1.0, unit="ms", scale=1e3):
    r = med[other] / med[base]
    print(f"{title:<44} ember {med[other] * scale / unit_div:9.3f} {unit}   torch {med[base] * scale / unit_div:9.3f} {unit}"
          f"   ratio ember/torch {r:5.2f}x")
    return r


def torch_threads(n=None):
    import os

    import torch

    torch.set_num_threads(n or min(2, os.cpu_count() or 1))
    return torch
