"""Run programs of this folder with ``torch`` or with ember in torch's place; print JSON results.

    python tests/programs/_run.py torch|ember prog1.py prog2.py ...

With ``ember``, an import hook answers ``import torch`` / ``import torch.X.Y`` with ``ember`` /
``ember.X.Y`` and ``import lightning`` / ``lightning.pytorch`` with a module built from
``ember.train`` (Lightning's names for ember's classes), before any program runs. Each program runs
with ``runpy`` as ``__main__`` with its stdout captured; the result is ``{name: {"out", "error"}}``.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import io
import json
import os
import runpy
import sys
import tempfile
import time
import traceback
import types
import warnings


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serve ``torch[.x]`` as ``ember[.x]`` and ``lightning[.pytorch[.x]]`` as ember.train."""

    def find_spec(self, fullname, path=None, target=None):
        root = fullname.split(".")[0]
        if root in ("torch", "lightning", "pytorch_lightning"):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        name = spec.name
        if name.startswith("torch"):
            return importlib.import_module("ember" + name[len("torch"):])
        return _lightning_module(name)

    def exec_module(self, module):
        pass


def _lightning_module(name):
    import ember.train as et
    from ember.train import callbacks, loggers

    parts = name.split(".")
    tail = parts[-1]
    if tail == "callbacks":
        return callbacks
    if tail == "loggers":
        return loggers
    mod = types.ModuleType(name)
    mod.__path__ = []  # a package, so "lightning.pytorch.callbacks" imports through it
    mod.LightningModule = et.TrainModule
    mod.LightningDataModule = et.DataModule
    mod.Trainer = et.Trainer
    mod.Callback = et.Callback
    mod.callbacks = callbacks
    mod.loggers = loggers
    mod.seed_everything = et.seed_everything
    if name == "lightning":
        mod.pytorch = mod
    return mod


def main(argv):
    lib, programs = argv[0], argv[1:]
    if lib == "ember":
        sys.meta_path.insert(0, _Alias())
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    results = {}
    cwd = os.getcwd()
    for prog in programs:
        buf = io.StringIO()
        error = None
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            os.chdir(d)  # programs may write files (checkpoints); each gets a fresh folder
            try:
                with contextlib.redirect_stdout(buf), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    runpy.run_path(os.path.join(here, prog), run_name="__main__")
            except BaseException as e:  # noqa: BLE001  (report anything, SystemExit included)
                error = "".join(traceback.format_exception_only(type(e), e)).strip()
                tb = traceback.extract_tb(e.__traceback__)
                frames = [f for f in tb if f.filename.endswith(prog)]
                if frames:
                    error += f" (at {prog}:{frames[-1].lineno}: {frames[-1].line})"
            finally:
                os.chdir(cwd)
        results[prog] = {"out": buf.getvalue(), "error": error, "seconds": round(time.perf_counter() - t0, 3)}
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
