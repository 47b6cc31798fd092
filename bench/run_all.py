"""Run every ember-vs-torch benchmark in turn: python bench/run_all.py [--quick]"""
from __future__ import annotations

import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["bench_core.py", "bench_nn.py", "bench_trainer.py", "bench_others.py"]

if __name__ == "__main__":
    sys.path.insert(0, HERE)
    for name in SCRIPTS:
        path = os.path.join(HERE, name)
        if not os.path.exists(path):
            print(f"(skipping {name}: not present)")
            continue
        print(f"== {name}")
        sys.argv = [path] + [a for a in sys.argv[1:] if a == "--quick"]
        runpy.run_path(path, run_name="__main__")
