"""Write ``src/ember/_sobol_directions.npz``: the Joe & Kuo direction numbers (new-joe-kuo-6.21201, the table
torch's ``SobolEngine`` and SciPy's ``qmc.Sobol`` use) for the first ``DIMS`` dimensions.

    python tools/make_sobol_table.py          # needs SciPy, which ships the table

Stored per dimension: the primitive polynomial ``poly`` and its ``m = poly.bit_length() - 1`` initial
direction numbers, concatenated in ``vinit`` (uint32, no pickles; ember reads it with ``allow_pickle=False``).
"""
from __future__ import annotations

import os

import numpy as np

DIMS = 1111
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src", "ember", "_sobol_directions.npz")


def main():
    import scipy.stats

    src = os.path.join(os.path.dirname(scipy.stats.__file__), "_sobol_direction_numbers.npz")
    with np.load(src, allow_pickle=False) as d:
        poly, vinit = d["poly"][:DIMS], d["vinit"][:DIMS]
    m = [int(p).bit_length() - 1 for p in poly]
    flat = np.concatenate([vinit[i, : m[i]] for i in range(DIMS)]).astype(np.uint32)
    np.savez_compressed(OUT, poly=poly.astype(np.uint32), vinit=flat)
    print(f"wrote {OUT}: {DIMS} dimensions, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
