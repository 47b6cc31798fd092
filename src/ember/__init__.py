"""ember: a deep-learning framework on NumPy with define-by-run autograd and a callback-driven trainer.

>>> import ember
>>> x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x ** 2).sum().backward()
>>> x.grad
tensor([2., 4., 6.])
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import _dtype
from ._backend import device
from ._dtype import (
    as_dtype,
    bfloat16,
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    set_default_dtype,
    short,
    uint8,
)
from ._dtype import bool_ as bool  # noqa: A001  (torch's name)
from ._dtype import float as float  # noqa: A001,PLW0127
from ._dtype import int as int  # noqa: A001,PLW0127
from ._tensor import Size, Tensor, _bind_methods
from ._layout import channels_last, channels_last_3d, contiguous_format, layout, memory_format, preserve_format, strided
from . import _ops
from ._ops import *  # noqa: F401,F403  (the public op functions)
from ._ops import abs, all, any, complex, max, min, pow, round, sum  # noqa: A004  (torch's names shadow builtins here)
from ._random import (
    Generator,
    bernoulli,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
)
from . import autograd
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .autograd.grad_mode import is_inference_mode_enabled

from ._ops import torch_range as range  # noqa: A001,E402  (torch.range, deprecated there)

_bind_methods(_ops)  # the Tensor methods each op registers (@tensor_method); binds _tensor._o too

from .serialization import CheckpointError, load, save  # noqa: E402
from ._autocast import (  # noqa: E402
    autocast_decrement_nesting,
    autocast_increment_nesting,
    clear_autocast_cache,
    get_autocast_cpu_dtype,
    get_autocast_dtype,
    get_autocast_gpu_dtype,
    get_autocast_ipu_dtype,
    get_autocast_xla_dtype,
    is_autocast_cache_enabled,
    is_autocast_cpu_enabled,
    is_autocast_enabled,
    is_autocast_ipu_enabled,
    is_autocast_xla_enabled,
    set_autocast_cache_enabled,
    set_autocast_cpu_dtype,
    set_autocast_cpu_enabled,
    set_autocast_dtype,
    set_autocast_enabled,
    set_autocast_gpu_dtype,
    set_autocast_ipu_dtype,
    set_autocast_ipu_enabled,
    set_autocast_xla_dtype,
    set_autocast_xla_enabled,
)
from .amp import GradScaler, autocast  # noqa: E402  (torch.GradScaler / torch.autocast are torch.amp's)
from ._vmap import vmap  # noqa: E402  (torch.vmap is torch.func.vmap)

_LAZY = {"nn", "optim", "utils", "datasets", "train", "interop", "cuda", "linalg", "accelerator", "backends", "special",
         "fft", "func", "distributed", "viz", "onnx", "distributions", "random", "version", "functional", "cpu",
         "signal", "quasirandom", "profiler", "multiprocessing"}


def __getattr__(name):
    # Subpackages load on first use so `import ember` stays fast.
    if name in _LAZY:
        import importlib

        mod = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = mod
        return mod
    from ._compat import error

    err = error("torch", name)  # a torch name ember lists as unsupported: say so clearly
    if err is not None:
        raise err
    raise AttributeError(f"module 'ember' has no attribute {name!r}")


import math as _math  # noqa: E402
import numbers as _numbers  # noqa: E402
from builtins import bool as _builtin_bool  # noqa: E402

pi, e, inf, nan = _math.pi, _math.e, _math.inf, _math.nan
newaxis = None


def compile(model=None, **kwargs):  # noqa: A001  (torch's name)
    """``torch.compile`` stand-in: ember runs eagerly, so this returns ``model`` unchanged (usable as a
    decorator too). Present so torch scripts that call it run as written."""
    if model is None:
        return lambda m: m
    return model


def is_tensor(obj) -> bool:
    """True if ``obj`` is an ember Tensor."""
    return isinstance(obj, Tensor)


def numel(input) -> int:
    return input.numel()


def is_floating_point(input) -> bool:
    return input.is_floating_point()


_default_device = device("cpu")


def get_default_device():
    """The device factory functions create tensors on: ``device(type='cpu')``."""
    return _default_device


def set_default_device(device):  # noqa: F811  (torch's parameter name)
    """torch's ``set_default_device``: ``None`` or ``"cpu"`` keep ember's CPU default.

    ``"cuda"`` raises: without CuPy and a GPU there is no CUDA device, and with one ember's factory
    functions still create CPU tensors (pass ``device="cuda"`` or move tensors with ``.to("cuda")``).
    """
    from ._backend import device as _dev

    if device is None:
        return
    d = _dev(device)
    if d.type == "cpu":
        return
    from . import cuda as _cuda

    if not _cuda.is_available():
        raise RuntimeError(
            f"set_default_device({str(device)!r}): CUDA is not available (ember.cuda.is_available() is False: "
            "CuPy is not installed or sees no GPU); keep the default 'cpu', e.g. "
            "device = 'cuda' if ember.cuda.is_available() else 'cpu'"
        )
    raise NotImplementedError(
        f"set_default_device({str(device)!r}): ember's factory functions create tensors on the CPU; "
        "pass device='cuda' to them or move tensors and modules with .to('cuda')"
    )


_threads = {"intra": None, "interop": None}


def get_num_threads() -> int:
    """The thread count ``set_num_threads`` set, else the number of CPUs."""
    import os

    return _threads["intra"] or os.cpu_count() or 1


def set_num_threads(num):
    """Limit the BLAS/OpenMP threads NumPy's kernels use (through threadpoolctl when it is installed;
    otherwise the number is only recorded: set ``OMP_NUM_THREADS`` before starting Python)."""
    if isinstance(num, _builtin_bool) or not isinstance(num, _numbers.Integral) or num < 1:
        raise RuntimeError("set_num_threads expects a positive integer")
    _threads["intra"] = num
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(num)


def get_num_interop_threads() -> int:
    """ember runs ops on the calling thread; the number ``set_num_interop_threads`` set, else the CPU count."""
    import os

    return _threads["interop"] or os.cpu_count() or 1


def set_num_interop_threads(num):
    if isinstance(num, _builtin_bool) or not isinstance(num, _numbers.Integral) or num < 1:
        raise RuntimeError("set_num_interop_threads expects a positive integer")
    _threads["interop"] = num


def get_device(input) -> int:
    """-1 for a CPU tensor, else its CUDA device index (``Tensor.get_device``)."""
    return input.get_device()
