"""The Trainer's optimisation: ``configure_optimizers``, the automatic optimization step, the loss check
and the scheduler stepper.

Serves ``configure_optimizers`` (parsed and checked); the automatic optimization step, which runs
``training_step`` and then, in Lightning's order, ``on_before_zero_grad`` / ``optimizer_zero_grad`` [m]
(first batch of an accumulation window), ``on_before_backward`` / ``backward`` [m] /
``on_after_backward``, ``on_before_optimizer_step`` / ``configure_gradient_clipping`` [m] /
``optimizer_step`` [m] (last batch of the window); the value ``training_step`` returns (a loss
tensor, a dict with ``"loss"``, or None), ``on_nonfinite_loss``, gradient accumulation and
``lr_scheduler_step`` (interval ``"step"``/``"epoch"``, ``frequency``, ReduceLROnPlateau's monitor). A
mixin of :class:`~ember.train.Trainer`: its methods read and set the trainer's own attributes.
"""

from __future__ import annotations

import math
import warnings

from ember.train._optim_config import parse_optimizers
from ember.train._precision import OptimizerWrapper, ScaledOptimizer


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite (``Trainer(on_nonfinite_loss="raise")``)."""


class _ManualOptimizer(OptimizerWrapper):
    """Wraps an optimizer in manual optimisation: ``step()`` fires ``on_before_optimizer_step``
    and counts ``global_step`` (as Lightning's ``LightningOptimizer``)."""

    def __init__(self, opt, trainer):
        super().__init__(opt)
        self._trainer = trainer

    def step(self, closure=None):
        t = self._trainer
        scaler = t.precision_plugin.scaler
        if scaler is not None:  # "16-mixed", as Lightning's MixedPrecision.optimizer_step
            if closure is not None:
                closure()
            scaler.unscale_(self._opt)
            t._call("on_before_optimizer_step", self._opt)
            out = t.precision_plugin.step(self._opt)  # skipped on inf/NaN gradients; the scale is updated
        else:
            t._call("on_before_optimizer_step", self._opt)
            out = self._opt.step(closure) if closure is not None else self._opt.step()
        t.global_step += 1
        return out


class OptimizationConnector:
    def _optimization_step(self, batch, batch_idx):
        """``training_step`` and the automatic optimization around it (see the module docstring)."""
        m, opt, acc = self.lightning_module, self.optimizers[0] if self.optimizers else None, self.accumulate_grad_batches
        first = batch_idx % acc == 0
        last = (batch_idx + 1) % acc == 0 or self.is_last_batch
        token = self.strategy.pre_training_step(accumulating=not last)  # ddp: arm the gradient all-reduce
        out = self._run_step("training_step", batch, batch_idx)
        self.strategy.post_training_step(out, token)
        loss = self._check_loss(out, batch_idx)
        if first and opt is not None:
            self._call("on_before_zero_grad", opt)
            m.optimizer_zero_grad(self.current_epoch, batch_idx, opt)
            self._window_has_grad = False
        prec = self.precision_plugin
        if loss is not None:
            if acc > 1:
                loss = loss / acc
            if prec.scaler is not None:  # "16-mixed": the hooks and backward see the scaled loss (Lightning)
                loss = prec.scale_loss(loss)
            self._call("on_before_backward", loss)
            m.backward(loss)
            self._call("on_after_backward")
            self._window_has_grad = True
        if last and opt is not None and self._window_has_grad:
            if prec.scaler is None:
                self._call("on_before_optimizer_step", opt)
                m.configure_gradient_clipping(opt, gradient_clip_val=self.gradient_clip_val,
                                              gradient_clip_algorithm=self.gradient_clip_algorithm)
                m.optimizer_step(self.current_epoch, batch_idx, opt)
            else:  # "16-mixed": unscale, then the hook and clipping see true gradients; the step is the scaler's
                prec.unscale(opt)
                self._call("on_before_optimizer_step", opt)
                m.configure_gradient_clipping(opt, gradient_clip_val=self.gradient_clip_val,
                                              gradient_clip_algorithm=self.gradient_clip_algorithm)
                scaled = ScaledOptimizer(opt, prec)
                m.optimizer_step(self.current_epoch, batch_idx, scaled)
                if not scaled._stepped:
                    prec.abandon(opt)
            self.global_step += 1  # (also when the scaler skipped the step, as Lightning counts)
            self._stepped = True
        return out

    def _configure_optimizers(self):
        m = self.lightning_module
        prev, m._current_fx = m._current_fx, "configure_optimizers"
        try:
            out = m.configure_optimizers()
        finally:
            m._current_fx = prev
        self.optimizers, self.lr_scheduler_configs = parse_optimizers(out)
        if self.precision_plugin.scaler is not None:
            self.precision_plugin.check_optimizers(self.optimizers)
        if not self.optimizers:
            if m.automatic_optimization:
                raise ValueError(f"{type(m).__name__}.configure_optimizers() returned None: with automatic "
                                 "optimisation it must return an optimizer, e.g. "
                                 "ember.optim.Adam(self.parameters(), lr=1e-3)")
        if not m.automatic_optimization and self.state.fn == "fit":  # Lightning's configuration check
            clip, acc = self.gradient_clip_val, self.accumulate_grad_batches
            what = (f"gradient_clip_val={clip}", "clipping", "call self.clip_gradients(opt, ...) before opt.step()") \
                if clip is not None and clip > 0 else \
                (f"accumulate_grad_batches={acc}", "accumulation", "step the optimizer every N batches yourself") \
                if acc != 1 else None
            if what is not None:
                raise ValueError(f"Trainer({what[0]}): automatic gradient {what[1]} is not supported for manual "
                                 f"optimization (self.automatic_optimization = False); remove the flag and "
                                 f"{what[2]}, or switch to automatic optimization")
        if m.automatic_optimization and len(self.optimizers) > 1:
            raise ValueError(f"configure_optimizers() returned {len(self.optimizers)} optimizers; automatic "
                             "optimisation uses one. Set self.automatic_optimization = False and step them "
                             "in training_step (self.optimizers(), self.manual_backward(loss))")
        self._manual_optimizers = [] if m.automatic_optimization else \
            [_ManualOptimizer(o, self) for o in self.optimizers]
        for cfg in self.lr_scheduler_configs:
            if cfg.reduce_on_plateau:
                try:
                    from ember.train._monitor import check_mode_matches_name
                    check_mode_matches_name("ReduceLROnPlateau", cfg.monitor, getattr(cfg.scheduler, "mode", "min"))
                except ImportError:  # pragma: no cover
                    pass
        self._window_has_grad = False
        self._stepped = False

    def _check_loss(self, out, batch_idx, manual=False):
        """The loss tensor from what training_step returned (None = skip this batch)."""
        loss = out.get("loss") if isinstance(out, dict) else out
        if isinstance(out, dict) and "loss" not in out and not manual:
            raise ValueError(f"training_step returned a dict without a 'loss' key (keys: {sorted(out)}); "
                             "return the loss tensor or {'loss': loss, ...}")
        if loss is None:
            return None
        if manual:
            return loss
        data = getattr(loss, "_data", None)
        if data is None or not hasattr(loss, "backward"):
            raise TypeError(f"training_step must return the loss as an ember Tensor (or a dict with 'loss', or "
                            f"None to skip the batch); it returned {type(loss).__name__}: {loss!r:.80}")
        if data.size != 1:
            raise ValueError(f"training_step returned a tensor of shape {tuple(data.shape)}, not a scalar loss; "
                             "reduce it (e.g. loss.mean())")
        if not loss.requires_grad:
            raise ValueError("training_step returned a loss that does not require grad: it is not connected to "
                             "the parameters (was it computed under no_grad, detached, or converted with .item()?)")
        if self.on_nonfinite_loss != "ignore":
            v = data.item()
            if not math.isfinite(v):
                if self.on_nonfinite_loss == "raise":
                    raise NonFiniteLossError(
                        f"training loss is {v} at global step {self.global_step} (epoch {self.current_epoch}, "
                        f"batch {batch_idx}). Lower the learning rate, clip gradients (gradient_clip_val), "
                        "check the data for NaN/inf, or pass Trainer(on_nonfinite_loss='skip') to drop such "
                        "batches")
                return None  # "skip"
        return loss

    def _accumulating(self, batch_idx):
        return (batch_idx + 1) % self.accumulate_grad_batches != 0 and not self.is_last_batch

    def _step_schedulers(self, interval, plateau, batch_idx=None):
        if not self.lr_scheduler_configs or not self.lightning_module.automatic_optimization:
            return
        if interval == "step":
            if batch_idx is not None and self._accumulating(batch_idx):
                return
            # Lightning counts "frequency" in batches of the epoch (batch_idx + 1), not optimizer steps
            idx = batch_idx + 1 if batch_idx is not None else self.global_step
        else:
            idx = self.current_epoch + 1
        for cfg in self.lr_scheduler_configs:
            if cfg.interval != interval or cfg.reduce_on_plateau != plateau or idx % cfg.frequency:
                continue
            metric = None
            if plateau:
                metric = self.callback_metrics.get(cfg.monitor)
                if metric is None:
                    if cfg.strict:
                        raise RuntimeError(
                            f"ReduceLROnPlateau watches {cfg.monitor!r}, which was not logged. "
                            f"{self._logged_keys_report()} Log it with self.log({cfg.monitor!r}, ...) or "
                            "change 'monitor' in configure_optimizers (or set 'strict': False to skip)")
                    warnings.warn(f"ReduceLROnPlateau watches {cfg.monitor!r}, which is not available; "
                                  "skipping the scheduler step (strict=False)", RuntimeWarning, stacklevel=2)
                    continue
            self.lightning_module.lr_scheduler_step(cfg.scheduler, metric)

