"""Package-level promises: import cost, no optional imports, metadata."""
import os
import subprocess
import sys

import pytest

OPTIONAL = ["torch", "sklearn", "matplotlib", "tqdm", "rich", "tensorboard", "cupy", "mpi4py", "scipy", "yaml"]


def _run(code):
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with cached bytecode, as users run it
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120).stdout


def test_import_ember_imports_no_optional_package():
    out = _run("import sys, ember; print(','.join(m for m in %r if m in sys.modules))" % (OPTIONAL,))
    assert out.strip() == ""


def test_import_ember_train_imports_no_optional_package():
    out = _run("import sys, ember.train; print(','.join(m for m in %r if m in sys.modules))" % (OPTIONAL,))
    assert out.strip() == ""


@pytest.mark.parametrize("module,budget", [("ember", 0.2), ("ember.train", 0.3)])
def test_import_time_on_top_of_numpy(module, budget):
    code = (
        # CPU time of the import (not wall time): a shared, loaded CI machine must not fail this test
        "import time; import numpy; t = time.process_time(); import %s; print(time.process_time() - t)" % module
    )
    _run(code)  # warm the bytecode cache
    best = min(float(_run(code)) for _ in range(3))
    assert best < budget, f"import {module} took {best:.3f}s on top of NumPy (budget {budget}s)"


def test_version_and_public_names():
    import ember

    assert isinstance(ember.__version__, str)
    for name in ["Tensor", "tensor", "zeros", "no_grad", "manual_seed", "save", "load", "autograd", "float32"]:
        assert hasattr(ember, name), name
    with pytest.raises(AttributeError, match="no attribute 'not_a_thing'"):
        _ = ember.not_a_thing


def test_cuda_reports_unavailable_without_cupy():
    import ember

    if "cupy" in sys.modules:
        pytest.skip("cupy present")
    saved = sys.modules.get("cupy", "absent")
    sys.modules["cupy"] = None  # import cupy raises ImportError, whatever is installed
    try:
        assert ember.cuda.is_available() is False
        assert ember.cuda.device_count() == 0
        with pytest.raises(RuntimeError, match="CuPy"):
            ember.zeros(2).to("cuda")
    finally:
        if saved == "absent":
            del sys.modules["cupy"]
        else:
            sys.modules["cupy"] = saved


def test_cuda_is_available_asks_cupy_for_devices(monkeypatch):
    import types

    import ember

    def fake(count):
        def get():
            if isinstance(count, Exception):
                raise count
            return count
        runtime = types.SimpleNamespace(getDeviceCount=get)
        return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))

    for count, want in [(2, True), (0, False), (RuntimeError("no driver"), False)]:
        monkeypatch.setitem(sys.modules, "cupy", fake(count))
        assert ember.cuda.is_available() is want
