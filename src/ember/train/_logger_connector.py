"""The Trainer's logger connector: what reaches the loggers, when, and the reports at the end.

Serves ``self.log`` on the loggers' side: step rows every ``log_every_n_steps`` optimizer steps
(after ``on_train_batch_end``), epoch rows after ``on_train_epoch_end`` and after each evaluation
epoch, hyperparameters and the graph at ``on_fit_start``, ``save()`` at epoch ends and ``finalize``
at the end of ``fit`` (``"success"``, ``"failed"`` after ``on_exception``, ``"interrupted"`` on SIGTERM),
the learning curves (:mod:`ember.train._plots`) and the table ``validate``/``test`` print. A mixin of
:class:`~ember.train.Trainer`: its methods read and set the trainer's own attributes.
"""

from __future__ import annotations

from ember.train._data_connector import _as_list

__all__ = ["LoggerConnector"]


class LoggerConnector:
    def _connect_loggers(self, logger):
        """``Trainer(logger=...)``: ``True`` is a ``CSVLogger`` in ``default_root_dir``; ``None``/``False``
        none; a logger or a list of loggers as given."""
        if logger is True:
            from ember.train.loggers import CSVLogger

            logger = CSVLogger(save_dir=self.default_root_dir)
        return _as_list(logger) if logger not in (None, False) else []

    def _log_step_metrics(self, batch_idx):
        res = self._results
        if not res.step_dirty:
            return
        if self._accumulating(batch_idx) and self.lightning_module.automatic_optimization:
            return  # as Lightning: per-step values reach the loggers only on batches that step
        n = self.log_every_n_steps  # 0: no step-level logging (Lightning)
        if n and ((self._batches_that_stepped + 1) % n == 0 or self.should_stop):
            metrics = res.step_metrics_for_logger()
            if metrics:
                self._log_to_loggers(metrics, self._batches_that_stepped)
        res.clear_step()

    def _reset_metrics(self):
        """Each fit/validate/test/predict starts with empty metric dicts (as Lightning's do)."""
        self.callback_metrics, self.logged_metrics, self.progress_bar_metrics = {}, {}, {}

    def _log_to_loggers(self, metrics, step):
        """Send ``metrics`` (plus the current ``epoch``, which ``logged_metrics`` does not get, as in
        Lightning) to every logger at ``step``."""
        if not metrics:
            return
        self.logged_metrics.update(metrics)
        metrics["epoch"] = self.current_epoch
        for lg in self.loggers:
            lg.log_metrics(metrics, step)

    def _save_loggers(self):
        """Flush what the loggers buffered (epoch end, after a checkpoint, end of validate/test)."""
        for lg in self.loggers:
            lg.save()

    def _log_hparams(self):
        m = self.lightning_module
        hp = dict(m.hparams)
        if self.datamodule is not None:
            hp.update(getattr(self.datamodule, "hparams", {}) or {})
        if self.loggers and getattr(m, "_log_hyperparams", True):
            for lg in self.loggers:
                lg.log_hyperparams(hp)
        if self.state.fn == "fit":
            for lg in self.loggers:  # Lightning logs the graph at fit start (a no-op unless log_graph=True)
                lg.log_graph(m)

    def _finalize_loggers(self, status):
        for lg in self.loggers:
            try:
                lg.save()
                lg.finalize(status)
            except Exception:  # a failing logger must not hide the original error
                if status == "success":
                    raise

    def _write_learning_curves(self, epoch_end=False):
        """learning_curves.png/.html in log_dir: at fit end, and at each epoch end that is not the
        last (throttled so that drawing takes at most ~10% of the training time)."""
        if not self.loggers or self.fast_dev_run or not self.is_global_zero:
            return
        from ember.train._plots import LearningCurves

        if self._curves is None:
            self._curves = LearningCurves()
        self._curves.write(self, throttle=epoch_end)
        if not epoch_end:
            self._curves = None

    def _print_table(self, fn, results):
        if not results or not any(results):
            return
        title = {"validate": "Validate metric", "test": "Test metric"}[fn]
        rows = [(k, f"{v:.6g}") for d in results for k, v in sorted(d.items())]
        w0 = max(len(title), *(len(r[0]) for r in rows))
        w1 = max(len("DataLoader 0"), *(len(r[1]) for r in rows))
        line = "─" * (w0 + w1 + 7)
        print(line)
        print(f"  {title:<{w0}}   {'DataLoader 0':>{w1}}")
        print(line)
        for k, v in rows:
            print(f"  {k:<{w0}}   {v:>{w1}}")
        print(line)
