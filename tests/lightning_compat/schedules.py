"""Learning-rate schedules the ways users configure them, with gradient accumulation and clipping:

* OneCycleLR stepped per optimizer step (``total_steps=self.trainer.estimated_stepping_batches``),
  ``accumulate_grad_batches=2`` over an odd number of batches, ``gradient_clip_val``,
  ``val_check_interval=0.5``, LearningRateMonitor per step with momentum;
* ReduceLROnPlateau driven by ``val_loss`` (``monitor`` in the dict config), per epoch;
* two schedulers on one optimizer in the ``([opt], [sched, {config}])`` form, one per step every
  3 steps, one per epoch.

Weights and data are the same in both libraries, so losses and learning rates can be compared.
"""
from ._common import blobs, loader, lrs, metrics_csv, num, quiet_trainer, set_weights


def _model_class(lib, configure):
    torch = lib.torch
    nn = torch.nn
    F = nn.functional

    class Regressor(lib.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
            self.lr_trace = []

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.cross_entropy(self.net(x), y)
            self.log("loss", loss, prog_bar=True)
            return loss

        def on_train_batch_end(self, outputs, batch, batch_idx):
            self.lr_trace.append(lrs(self.trainer.optimizers[0])[0])

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", F.cross_entropy(self.net(x), y))

        def configure_optimizers(self):
            return configure(self)

    return Regressor


def schedules_program(lib, tmp_path):
    torch = lib.torch
    sched = torch.optim.lr_scheduler
    x, y = blobs(200, d=8, k=3, seed=2)
    train = loader(lib, x[:112], y[:112], batch_size=16)   # 7 batches: the last window has one batch
    val = loader(lib, x[112:], y[112:], batch_size=44)
    out = {"structure": {}, "numbers": {}}

    # 1. OneCycleLR per step, accumulation, clipping, validation twice per epoch
    def one_cycle(m):
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        total = m.trainer.estimated_stepping_batches
        s = sched.OneCycleLR(opt, max_lr=0.5, total_steps=total)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "interval": "step"}}

    model = _model_class(lib, one_cycle)()
    set_weights(model, lib, seed=3)
    logger = lib.loggers.CSVLogger(str(tmp_path), name="onecycle")
    mon = lib.callbacks.LearningRateMonitor(logging_interval="step", log_momentum=True)
    tr = quiet_trainer(lib, tmp_path, max_epochs=3, accumulate_grad_batches=2, gradient_clip_val=0.5,
                       val_check_interval=0.5, log_every_n_steps=1, callbacks=[mon], logger=logger,
                       enable_checkpointing=False)
    tr.fit(model, train, val)
    cols, rows = metrics_csv(logger.log_dir)
    out["structure"]["onecycle"] = {
        "global_step": tr.global_step, "estimated_stepping_batches": tr.estimated_stepping_batches,
        "lr_trace": model.lr_trace, "csv_columns": cols, "csv_rows": rows,
        "callback_metrics": sorted(tr.callback_metrics), "progress_bar": sorted(tr.progress_bar_metrics),
        "num_val_batches": [int(n) for n in tr.num_val_batches],
    }
    out["numbers"]["onecycle_val_loss"] = num(tr.callback_metrics["val_loss"])
    out["numbers"]["onecycle_weight_sum"] = float(sum(float(p.detach().abs().sum()) for p in model.parameters()))

    # 2. ReduceLROnPlateau on val_loss, a large lr so that val_loss gets worse sometimes
    def plateau(m):
        opt = torch.optim.SGD(m.parameters(), lr=3.0)
        s = sched.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=0)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "monitor": "val_loss", "interval": "epoch"}}

    model = _model_class(lib, plateau)()
    set_weights(model, lib, seed=4, scale=1.0)
    val_trace = []
    log_val = type("LogVal", (lib.Callback,), {
        "on_validation_end": lambda self, t, m: None if t.sanity_checking else val_trace.append(
            round(num(t.callback_metrics["val_loss"]), 4))})
    tr = quiet_trainer(lib, tmp_path, max_epochs=6, logger=False, enable_checkpointing=False,
                       callbacks=[log_val()])
    tr.fit(model, train, val)
    out["structure"]["plateau"] = {"lr_trace": model.lr_trace[6::7], "global_step": tr.global_step,
                                   "val_trace": val_trace}

    # 3. two schedulers on one optimizer: LambdaLR every 3 steps, ExponentialLR per epoch
    def two(m):
        opt = torch.optim.Adam(m.parameters(), lr=0.01)
        s1 = {"scheduler": sched.LambdaLR(opt, lambda k: 0.9 ** k), "interval": "step", "frequency": 3}
        s2 = sched.ExponentialLR(opt, gamma=0.5)
        return [opt], [s1, s2]

    model = _model_class(lib, two)()
    set_weights(model, lib, seed=5)
    tr = quiet_trainer(lib, tmp_path, max_epochs=2, logger=False, enable_checkpointing=False,
                       limit_val_batches=0)
    tr.fit(model, train, val)
    out["structure"]["two_schedulers"] = {
        "lr_trace": model.lr_trace, "global_step": tr.global_step,
        "configs": [[type(c.scheduler).__name__, c.interval, c.frequency] for c in tr.lr_scheduler_configs],
    }
    out["numbers"]["two_schedulers_loss"] = num(tr.callback_metrics["loss"])
    return out
