"""ember.autograd: reverse-mode automatic differentiation on a define-by-run graph."""
from . import anomaly as anomaly_mode  # torch.autograd.anomaly_mode
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .engine import backward, grad
from . import forward_ad, graph  # noqa: F401
from .function import Function, FunctionCtx, InplaceFunction, once_differentiable
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled

__all__ = [
    "Function", "FunctionCtx", "InplaceFunction", "once_differentiable", "backward", "grad", "gradcheck",
    "gradgradcheck", "GradcheckError", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
    "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled", "Variable",
    "anomaly_mode", "is_tensor_like", "graph", "forward_ad",
]


def Variable(data, requires_grad=False, volatile=False):  # noqa: N802  (torch's legacy name)
    """Legacy ``torch.autograd.Variable(t, requires_grad=...)``: a tensor sharing ``data``'s values."""
    from .. import _ops

    t = data.detach() if isinstance(data, _ops.Tensor) else _ops.tensor(data)
    return t.requires_grad_() if requires_grad else t


def is_tensor_like(inp):
    """Whether ``inp`` is a tensor or an object whose type defines ``__torch_function__`` (torch's
    ``torch.overrides.is_tensor_like``)."""
    from .._tensor import Tensor

    return isinstance(inp, Tensor) or hasattr(type(inp), "__torch_function__")


# torch's ``Variable._execution_engine.queue_callback(fn)``: run fn when the current backward has finished
from .engine import _ExecutionEngine  # noqa: E402

Variable._execution_engine = _ExecutionEngine()

from .._compat import module_getattr as _module_getattr  # noqa: E402

_compat_getattr = _module_getattr("torch.autograd", "ember.autograd")  # listed torch names raise a clear error


def __getattr__(name):
    # torch.autograd.functional loads on first use
    if name == "functional":
        import importlib

        mod = importlib.import_module(f"{__name__}.functional")
        globals()[name] = mod
        return mod
    return _compat_getattr(name)
