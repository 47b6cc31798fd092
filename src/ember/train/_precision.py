"""``Trainer(precision=...)``: Lightning's precision flag, its values and what each one does.

Serves ``Trainer(precision=...)``, ``trainer.precision``, ``trainer.precision_plugin``,
``trainer.scaler`` and ``Trainer.init_module()``. One small object per setting, named as Lightning's
precision plugins, with the same duties:

* ``convert_module``  the module's floating parameters and buffers, at setup (before a checkpoint's
  weights are loaded into it, so that a resumed float64 or float16 run is exact);
* ``convert_input``   the floating tensors of each batch, before ``on_before_batch_transfer``;
* ``step_context``    around ``training_step``/``validation_step``/``test_step``/``predict_step``;
* ``init_context``    ``Trainer.init_module()``: the default dtype while the module is built;
* the loss scaling of ``"16-mixed"`` (scale before backward, unscale before clipping, skip steps with
  inf/NaN gradients, update the scale) and its state in checkpoints (Lightning's key ``"MixedPrecision"``).

``"16-mixed"`` is float16 autocast on the CPU with a ``GradScaler``. Lightning, on the CPU, switches it
to ``"bf16-mixed"`` with a warning; ember has no bfloat16 (NumPy has none), so it does what Lightning
does with float16 on a GPU. The ``bf16`` values and ``"transformer-engine"`` raise at construction.
"""

from __future__ import annotations

import contextlib
import warnings

__all__ = ["resolve_precision", "make_precision_plugin", "Precision", "DoublePrecision", "HalfPrecision",
           "MixedPrecision"]

# Lightning 2.x's accepted values, in the order its error lists them (lightning.fabric's _PRECISION_INPUT)
_STR = ("transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true", "bf16-mixed",
        "32-true", "64-true")
_INT = (64, 32, 16)
_ALIAS = {"64": "64-true", "32": "32-true", "16": "16-mixed", "bf16": "bf16-mixed"}
_ACCEPTED = _STR + _INT + tuple(_ALIAS)


def resolve_precision(value):
    """Lightning's normalisation of the flag: ``None`` -> ``"32-true"``, ``16``/``"16"`` -> ``"16-mixed"``
    (with Lightning's warning about the legacy alias), ``64``/``"64"`` -> ``"64-true"``, ... The values
    ember cannot run (bfloat16, Transformer Engine) raise ``ValueError`` naming the value, why, and what
    to use instead; values Lightning does not accept raise as Lightning's, listing the accepted ones."""
    if value is None:
        return "32-true"
    ok = (isinstance(value, str) and value in _STR + tuple(_ALIAS)) or \
        (type(value) is int and value in _INT)  # (not True, 16.0 or numpy ints: Lightning fails on them later)
    if not ok:
        raise ValueError(f"Trainer(precision={value!r}): precision {value!r} is invalid. Allowed precision "
                         f"values: {_ACCEPTED}")
    s = str(value)
    if s in _ALIAS:
        if s == "16":
            warnings.warn(f"`precision={value}` is supported for historical reasons but its usage is discouraged. "
                          f"Please set your precision to {_ALIAS[s]} instead!", UserWarning, stacklevel=4)
        s = _ALIAS[s]
    if "bf16" in s:
        raise ValueError(f"Trainer(precision={value!r}): ember has no bfloat16 (it computes with NumPy, which has "
                         "no bfloat16 type), so Lightning's bfloat16 precisions cannot run; use "
                         "precision='16-mixed' (float16 autocast with loss scaling) or '32-true'")
    if s.startswith("transformer-engine"):
        raise ValueError(f"Trainer(precision={value!r}): NVIDIA Transformer Engine (FP8 layers on a GPU) is not "
                         "available in ember (NumPy on the CPU, no bfloat16 or FP8 types); use "
                         "precision='16-mixed' (float16 autocast with loss scaling) or '32-true'")
    return s


def make_precision_plugin(precision: str):
    """The plugin for a normalised precision string (see :func:`resolve_precision`)."""
    if precision == "64-true":
        return DoublePrecision()
    if precision == "16-true":
        return HalfPrecision()
    if precision == "16-mixed":
        return MixedPrecision()
    return Precision()


def _default_dtype(dtype):
    """A context with ``ember.set_default_dtype(dtype)`` (Lightning's _DtypeContextManager)."""
    import ember

    @contextlib.contextmanager
    def ctx():
        prev = ember.get_default_dtype()
        ember.set_default_dtype(dtype)
        try:
            yield
        finally:
            ember.set_default_dtype(prev)
    return ctx()


def _convert_floats(data, dtype):
    """The floating tensors of a batch (nested in lists, tuples, named tuples and dicts) cast to ``dtype``;
    everything else unchanged (Lightning's apply_to_collection with _convert_fp_tensor)."""
    from ember import Tensor

    if isinstance(data, Tensor):
        return data.to(dtype) if data.is_floating_point() and data.dtype != dtype else data
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(_convert_floats(v, dtype) for v in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_convert_floats(v, dtype) for v in data)
    if isinstance(data, dict):
        out = {k: _convert_floats(v, dtype) for k, v in data.items()}
        try:
            return type(data)(out)
        except TypeError:
            return out
    return data


class Precision:
    """``"32-true"``: nothing converted, no context (Lightning's ``Precision``)."""

    precision = "32-true"
    scaler = None

    def convert_module(self, module):
        return module

    def convert_input(self, batch):
        return batch

    def step_context(self):
        return contextlib.nullcontext()

    def init_context(self):
        return contextlib.nullcontext()

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class DoublePrecision(Precision):
    """``"64-true"``: the module in float64, floating inputs cast to float64, and float64 as the default
    dtype inside the step methods and ``Trainer.init_module()``."""

    precision = "64-true"

    def __init__(self):
        import ember

        self.dtype = ember.float64

    def convert_module(self, module):
        return module.to(self.dtype)

    def convert_input(self, batch):
        return _convert_floats(batch, self.dtype)

    def step_context(self):
        return _default_dtype(self.dtype)

    def init_context(self):
        return _default_dtype(self.dtype)


class HalfPrecision(DoublePrecision):
    """``"16-true"``: the module, the inputs and the default dtype in float16 (Lightning's
    ``HalfPrecision``); the optimizer updates float16 weights."""

    precision = "16-true"

    def __init__(self):
        import ember

        self.dtype = ember.float16


class MixedPrecision(Precision):
    """``"16-mixed"``: the step methods run under ``ember.autocast("cpu", dtype=float16)`` and a
    ``GradScaler("cpu")`` (torch's defaults) scales the loss of each backward; before the optimizer step
    the gradients are unscaled (so ``on_before_optimizer_step`` and gradient clipping see true values),
    a step whose gradients hold inf/NaN is skipped, and the scale is updated (Lightning's
    ``MixedPrecision`` with float16)."""

    precision = "16-mixed"

    def __init__(self):
        import ember

        self.dtype = ember.float16
        self.scaler = ember.amp.GradScaler("cpu")

    def step_context(self):
        import ember

        return ember.autocast("cpu", dtype=self.dtype, cache_enabled=False)

    def scale_loss(self, loss):
        return self.scaler.scale(loss)

    def check_optimizers(self, optimizers):
        from ember.optim import LBFGS

        for o in optimizers:
            if isinstance(o, LBFGS):
                raise ValueError("Trainer(precision='16-mixed') cannot step LBFGS: loss scaling needs a single "
                                 "gradient per step and LBFGS re-evaluates the closure (Lightning refuses it too: "
                                 "\"AMP and the LBFGS optimizer are not compatible\"); use precision='32-true'")

    def unscale(self, optimizer):
        self.scaler.unscale_(optimizer)

    def step(self, optimizer, closure=None):
        """The scaler's step (skipped when a gradient is inf/NaN) and its update."""
        out = self.scaler.step(optimizer)
        self.scaler.update()
        return out

    def abandon(self, optimizer):
        """``optimizer_step`` returned without stepping: forget this window's unscale."""
        from ember.amp.grad_scaler import _refresh_per_optimizer_state

        self.scaler._per_optimizer_states[id(optimizer)] = _refresh_per_optimizer_state()

    def state_dict(self) -> dict:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scaler.load_state_dict(state)


class OptimizerWrapper:
    """An optimizer as the Trainer hands it to user hooks (Lightning's ``LightningOptimizer``): subclasses
    define ``step``; ``zero_grad``, ``.optimizer`` and every other attribute are the wrapped optimizer's."""

    def __init__(self, opt):
        self._opt = opt

    def zero_grad(self, set_to_none: bool = True):
        self._opt.zero_grad()

    @property
    def optimizer(self):
        return self._opt

    def __getattr__(self, name):
        return getattr(self._opt, name)


class ScaledOptimizer(OptimizerWrapper):
    """The optimizer handed to ``TrainModule.optimizer_step`` under ``"16-mixed"``: its ``step()`` is the
    scaler's (Lightning hands a ``LightningOptimizer`` whose step goes through the precision plugin)."""

    def __init__(self, opt, plugin):
        super().__init__(opt)
        self._plugin, self._stepped = plugin, False

    def step(self, closure=None):
        if closure is not None:
            closure()
        self._stepped = True
        return self._plugin.step(self._opt)
