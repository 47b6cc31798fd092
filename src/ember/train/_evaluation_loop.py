"""The Trainer's evaluation loop: the sanity check, validation during ``fit``, ``validate``, ``test``
and ``predict``.

Serves, for ``noun`` in validation/test/predict: ``on_{noun}_model_eval`` [m], ``on_{noun}_start``,
``on_{noun}_epoch_start``, per batch ``on_{noun}_batch_start`` / ``{noun}_step`` /
``on_{noun}_batch_end`` (with ``dataloader_idx`` when there are several loaders),
``on_{noun}_epoch_end``, ``on_{noun}_end`` and ``on_{noun}_model_train`` [m]; and
``on_sanity_check_start`` / ``on_sanity_check_end`` [cb] around the sanity check, which restores the
RNG states and metric dicts afterwards (Lightning's ``isolate_rng``). Runs under
``ember.inference_mode()`` (``Trainer(inference_mode=False)``: ``ember.no_grad()``). A mixin of
:class:`~ember.train.Trainer`: its methods read and set the trainer's own attributes.
"""

from __future__ import annotations

import sys

from ember.train._checkpoint import capture_rng, restore_rng
from ember.train._data_connector import _as_list, _sized

__all__ = ["EvaluationLoop"]


class EvaluationLoop:
    def _sanity_check(self):
        """A few validation batches before training; RNG states are restored afterwards (Lightning's
        isolate_rng), so that training does not depend on it."""
        saved = (dict(self.callback_metrics), dict(self.logged_metrics), dict(self.progress_bar_metrics))
        rng = capture_rng()
        self.sanity_checking = True
        self.state.stage = "sanity_check"
        self._call_callbacks("on_sanity_check_start")
        self._connect_val_loaders()
        if self._val_enabled():
            n = self.num_sanity_val_steps
            self._eval_loop("validate", self.val_dataloaders, limit=None if n == -1 else n, log=False)  # -1: all
        self._call_callbacks("on_sanity_check_end")
        self.sanity_checking = False
        self._check_monitors_logged(sanity=True)
        self.callback_metrics, self.logged_metrics, self.progress_bar_metrics = (
            saved[0], saved[1], saved[2])
        restore_rng(rng)

    def _run_validation(self):
        prev = self.state.stage
        self.state.stage = "validate"
        self._eval_loop("validate", self.val_dataloaders, limit=None, log=True)
        self._val_ran = True
        self.state.stage = prev
        self._results.stage = "train"

    def _log_eval_step(self, stage, dl_idx):
        """Lightning's update_eval_step_metrics: the batch's per-step values go to the loggers at a step
        counting the loader's eval batches (over all validation runs of a fit), without "epoch"."""
        res = self._results
        key = (stage, dl_idx)
        step = self._eval_log_steps.get(key, 0)
        self._eval_log_steps[key] = step + 1
        if res.step_dirty:
            metrics = res.step_metrics_for_logger()
            if metrics and self.loggers:
                self.logged_metrics.update(metrics)
                for lg in self.loggers:
                    lg.log_metrics(dict(metrics), step)
            res.clear_step(stage)

    def _eval_loop(self, stage, loaders, limit=None, log=True, return_predictions=False):
        """One epoch over each of ``loaders`` with ``{stage}_step`` and its hooks; returns metric
        dicts (or predictions)."""
        import ember

        m = self.lightning_module
        noun = {"validate": "validation", "test": "test", "predict": "predict"}[stage]
        step_name = f"{noun}_step"
        res = self._results
        res.reset_stage(stage)
        res.stage = stage
        nums = [self._num_eval_batches(stage, dl) for dl in loaders]
        if limit is not None:
            nums = [limit if n is None else min(limit, n) for n in nums]
        setattr(self, "num_sanity_val_batches" if self.sanity_checking else
                {"validate": "num_val_batches", "test": "num_test_batches", "predict": "num_predict_batches"}[stage],
                [float("inf") if n is None else n for n in nums])
        was_training = getattr(m, "training", True)
        getattr(m, f"on_{noun}_model_eval")()
        results, preds = [], []
        multi = len(loaders) > 1
        with ember.inference_mode() if self.inference_mode else ember.no_grad():
            self._call(f"on_{noun}_start")
            self._call(f"on_{noun}_epoch_start")
            for dl_idx, (dl, n) in enumerate(zip(loaders, nums)):
                extra = (dl_idx,) if multi else ()
                res.dl_suffix = f"/dataloader_idx_{dl_idx}" if multi else ""
                outs = []
                it = iter(dl)
                for batch_idx in range(n if n is not None else sys.maxsize):
                    try:
                        batch = next(it)
                    except StopIteration:
                        break
                    if self._convert_input is not None:
                        batch = self._convert_input(batch)
                    if self._batch_hooks:
                        batch = self._transfer_batch(batch, dl_idx)
                    res.new_batch(batch)
                    self._call(f"on_{noun}_batch_start", batch, batch_idx, *extra)
                    self.strategy.pre_eval_step()  # ddp in fit: rank 0's buffers, as DDP's forward does
                    out = self._run_step(step_name, batch, batch_idx, *extra)
                    if stage == "predict" and return_predictions:
                        outs.append(out)
                    self._call(f"on_{noun}_batch_end", out, batch, batch_idx, *extra)
                    if log and stage != "predict":
                        self._log_eval_step(stage, dl_idx)
                preds.append(outs)
            res.dl_suffix = ""
            if stage != "predict":
                res.epoch_end(stage)
                res.epoch_end_reached = True
            self._call(f"on_{noun}_epoch_end")
            if stage != "predict":
                res.epoch_end_reached = False
                metrics = res.epoch_end(stage)
                if log and metrics:  # epoch-end rows carry the epoch, as in Lightning
                    self._log_to_loggers(dict(metrics), self._batches_that_stepped)
                results = [{k: v for k, v in metrics.items() if _of_loader(k, i)} for i in range(len(loaders))]
                if self.world_size > 1:
                    self.strategy.sync_metrics(self)
            self._call(f"on_{noun}_end")
        if was_training:
            getattr(m, f"on_{noun}_model_train", m.train)()
        if stage == "predict":
            return preds if multi else (preds[0] if preds else [])
        return results

    def _evaluate(self, fn, model, dataloaders, ckpt_path, verbose, datamodule, return_predictions=True):
        from ember.train.module import DataModule

        if isinstance(dataloaders, DataModule):
            datamodule, dataloaders = dataloaders, None
        if model is None:
            if self.lightning_module is None:
                raise ValueError(f"Trainer.{fn}() needs a model: pass it, or call fit() first")
            model = self.lightning_module
            if ckpt_path is None and self.checkpoint_callback is not None and \
                    getattr(self.checkpoint_callback, "best_model_path", ""):
                ckpt_path = "best"
        self._attach(model, datamodule or self.datamodule, fn)
        return self._run_guarded(self._evaluate_impl, fn, dataloaders, ckpt_path, verbose, return_predictions)

    def _evaluate_impl(self, fn, dataloaders, ckpt_path, verbose, return_predictions):
        self._setup(fn)
        if ckpt_path is not None:
            self._ckpt.restore(ckpt_path, weights_only=True)
        noun = {"validate": "val", "test": "test", "predict": "predict"}[fn]
        loaders = _as_list(dataloaders) if dataloaders is not None else _as_list(self._loader_from_hooks(noun))
        if not loaders:
            raise ValueError(f"Trainer.{fn}(): no dataloader; pass dataloaders=... or define "
                             f"{noun}_dataloader() on the module or datamodule")
        for dl in loaders:
            if _sized(dl) == 0:
                raise ValueError(f"Trainer.{fn}(): the {noun} dataloader is empty (len 0)")
        self.state.stage = fn
        self._reset_metrics()
        out = self._eval_loop(fn, loaders, log=True, return_predictions=return_predictions)
        self._save_loggers()
        self.state.status = "finished"
        if fn != "predict" and verbose:
            self._print_table(fn, out)
        self._teardown(fn)
        return out if (fn != "predict" or return_predictions) else None


def _of_loader(key, i):
    """Whether metric ``key`` belongs in the results of eval loader ``i`` (its own suffix, or none)."""
    j = key.rfind("/dataloader_idx_")
    return j < 0 or key[j + 16:] == str(i)
