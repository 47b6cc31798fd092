"""Per-op engine overhead: a 200-op elementwise chain on a 32x32 float32 tensor, forward + backward.

    python bench/bench_core.py [--quick] [--clock wall|cpu] [--rounds N]

``--clock cpu`` times the blocks by the process's CPU time (steadier on a loaded shared machine, at one thread).

Budget (issue 10): ember at or below 0.7x torch, one thread each (blocks of runs per framework, medians).
"""
from __future__ import annotations

import sys

import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__file__))
from harness import Threads, environment, measure, report  # noqa: E402

N_OPS = 200


def chain(x, y):
    # 8 common elementwise ops, repeated: 25 x 8 = 200 recorded ops
    for _ in range(N_OPS // 8):
        x = x * 1.01
        x = x + y
        x = x.tanh()
        x = x.sigmoid()
        x = x * y
        x = x - 0.5
        x = x.sin()
        x = x.relu()
    return x.sum()


def main(quick=False, clock="wall", rounds=None):
    import ember

    import torch

    for line in environment():
        print(line)
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((32, 32)).astype(np.float32)
    ya = rng.standard_normal((32, 32)).astype(np.float32)
    ex, ey = ember.tensor(xa, requires_grad=True), ember.tensor(ya)
    tx, ty = torch.tensor(xa, requires_grad=True), torch.tensor(ya)

    def run_ember():
        ex.grad = None
        chain(ex, ey).backward()

    def run_torch():
        tx.grad = None
        chain(tx, ty).backward()

    run_ember(), run_torch()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-6)

    import bare_tape

    def run_bare():  # the least a Python engine does per op (bench/bare_tape.py): a reference, not a target
        x = bare_tape.V(xa, True)
        chain(x, bare_tape.V(ya)).backward()
        return x.g

    np.testing.assert_allclose(run_bare(), tx.grad.numpy(), rtol=1e-4, atol=1e-6)

    def run_numpy():  # the bare arithmetic, no engine: forward and hand-written backward
        x = xa
        saved = []
        for _ in range(N_OPS // 8):
            x = x * np.float32(1.01)
            x = x + ya
            x = np.tanh(x)
            saved.append(x)
            e = np.exp(-np.abs(x))
            x = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
            saved.append(x)
            x = x * ya
            x = x - np.float32(0.5)
            saved.append(x)
            x = np.sin(x)
            x = np.maximum(x, 0)
            saved.append(x)
        g = np.ones_like(x)
        for i in range(N_OPS // 8 - 1, -1, -1):
            t, s, m, r = saved[4 * i: 4 * i + 4]
            g = g * (r > 0)
            g = g * np.cos(m)
            g = g * ya
            g = g * s * (1 - s)
            g = g * (1 - t * t)
            g = g * np.float32(1.01)
        return g

    import statistics

    r = None
    for n in (1, 2):
        with Threads(n):
            med = measure({"ember": run_ember, "torch": run_torch, "numpy": run_numpy, "bare": run_bare},
                          rounds=rounds or (3 if quick else 9), target_s=0.1 if quick else 0.25, clock=clock)
        rr = report(f"{N_OPS}-op chain fwd+bwd (per op), {n} thread(s), {clock}", med, unit_div=N_OPS, unit="us", scale=1e6)
        print(f"{'':<44} numpy-only arithmetic {statistics.median(med['numpy']) * 1e6 / N_OPS:6.3f} us/op")
        bare = statistics.median(med["bare"]) * 1e6 / N_OPS
        print(f"{'':<44} bare tape engine      {bare:6.3f} us/op "
              f"({bare / (statistics.median(med['torch']) * 1e6 / N_OPS):.2f}x torch; bench/bare_tape.py)")
        r = rr if r is None else r
    return r


if __name__ == "__main__":
    argv = sys.argv
    main(quick="--quick" in argv, clock=argv[argv.index("--clock") + 1] if "--clock" in argv else "wall",
         rounds=int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else None)
