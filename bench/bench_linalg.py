"""LAPACK-style factorisations and special functions: ember (NumPy, Python loop over columns) against torch
(LAPACK / vectorised kernels), one thread each.

    python bench/bench_linalg.py [--quick] [--clock wall|cpu]

Workloads: linalg.lu_factor, torch.geqrf, linalg.ldl_factor on n x n float64 matrices (n = 64, 256),
linalg.lu_solve with 8 right-hand sides, and torch.special's Bessel/Airy functions on 1e5 float64 values.
ember's factorisations run one Python step per column (LAPACK's pivoting order, so the factors equal
torch's), which is what the ratios mostly measure; there is no budget for them.
"""
from __future__ import annotations

import sys
from functools import partial

import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__file__))
from harness import Threads, environment, measure, report  # noqa: E402


def main(quick=False, clock="wall"):
    import ember

    import torch

    for line in environment():
        print(line)
    rng = np.random.default_rng(0)
    rounds = 3 if quick else 7
    with Threads(1):
        print("one thread for both (torch.set_num_threads(1), NumPy's BLAS limited to 1)")
        for n in ((64,) if quick else (64, 256)):
            a = rng.standard_normal((n, n))
            s = a + a.T
            ea, ta, es, ts = ember.from_numpy(a), torch.from_numpy(a), ember.from_numpy(s), torch.from_numpy(s)
            b = rng.standard_normal((n, 8))
            eb, tb = ember.from_numpy(b), torch.from_numpy(b)
            eLU, ep = ember.linalg.lu_factor(ea)
            tLU, tp = torch.linalg.lu_factor(ta)
            np.testing.assert_array_equal(ep.numpy(), tp.numpy())
            cases = {
                f"linalg.lu_factor {n}x{n} float64": (partial(ember.linalg.lu_factor, ea),
                                                      partial(torch.linalg.lu_factor, ta)),
                f"linalg.lu_solve {n}x{n}, 8 rhs": (partial(ember.linalg.lu_solve, eLU, ep, eb),
                                                    partial(torch.linalg.lu_solve, tLU, tp, tb)),
                f"geqrf {n}x{n} float64": (partial(ember.geqrf, ea), partial(torch.geqrf, ta)),
                f"linalg.ldl_factor {n}x{n} float64": (partial(ember.linalg.ldl_factor, es),
                                                       partial(torch.linalg.ldl_factor, ts)),
            }
            for title, (fe, ft) in cases.items():
                report(title, measure({"ember": fe, "torch": ft}, rounds=rounds, clock=clock, target_s=0.1))
        x = rng.uniform(-30, 30, 100_000)
        ex, tx = ember.from_numpy(x), torch.from_numpy(x)
        for name in ("bessel_j0", "bessel_y1", "modified_bessel_k0", "airy_ai"):
            fe = partial(getattr(ember.special, name), ex)
            ft = partial(getattr(torch.special, name), tx)
            report(f"special.{name} 1e5 float64", measure({"ember": fe, "torch": ft},
                                                         rounds=rounds, clock=clock, target_s=0.1))


if __name__ == "__main__":
    clock = sys.argv[sys.argv.index("--clock") + 1] if "--clock" in sys.argv else "wall"
    main(quick="--quick" in sys.argv, clock=clock)
