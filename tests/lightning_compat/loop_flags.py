"""The loop-shaping Trainer flags, one short fit each, recording when validation runs (epoch,
global step), how many training batches run per epoch, the final counters, and which steps reach
the logger: limit_train/val_batches (int and fraction), check_val_every_n_epoch, num_sanity_val_steps,
val_check_interval (int, float, and an int across epochs with check_val_every_n_epoch=None),
max_steps cutting an epoch, log_every_n_steps, fast_dev_run, a module ending its epoch early by
returning -1 from on_train_batch_start, reduce_fx / on_epoch logging in training_step, and
trainer.predict and trainer.validate over two loaders."""
from ._common import blobs, loader, metrics_csv, quiet_trainer, set_weights


def _classes(lib):
    torch = lib.torch
    nn = torch.nn
    F = nn.functional

    class Model(lib.Module):
        def __init__(self, stop_at=None):
            super().__init__()
            self.layer = nn.Linear(4, 2)
            self.stop_at = stop_at

        def on_train_batch_start(self, batch, batch_idx):
            if self.stop_at is not None and batch_idx == self.stop_at and self.current_epoch == 1:
                return -1

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.cross_entropy(self.layer(x), y)
            self.log("loss", loss)
            self.log("n_total", float(len(y)), on_step=False, on_epoch=True, reduce_fx="sum")
            self.log("loss_max", loss, on_step=False, on_epoch=True, reduce_fx="max")
            return loss

        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            x, y = batch
            self.log("val_loss", F.cross_entropy(self.layer(x), y))

        def predict_step(self, batch, batch_idx, dataloader_idx=0):
            return self.layer(batch[0]).argmax(dim=1)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    class Probe(lib.Callback):
        def __init__(self):
            self.vals, self.batches, self.sanity = [], {}, 0

        def on_validation_end(self, trainer, pl_module):
            if trainer.sanity_checking:
                self.sanity += 1
            else:
                self.vals.append([trainer.current_epoch, trainer.global_step])

        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
            if trainer.sanity_checking:
                self.sanity += 100

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.batches[trainer.current_epoch] = self.batches.get(trainer.current_epoch, 0) + 1

    return Model, Probe


def loop_flags_program(lib, tmp_path):
    Model, Probe = _classes(lib)
    x, y = blobs(200, d=4, k=2, seed=31)
    train = loader(lib, x[:160], y[:160], batch_size=16)   # 10 batches
    val = loader(lib, x[160:], y[160:], batch_size=8)      # 5 batches
    configs = {
        "limits_every_2": dict(max_epochs=4, limit_train_batches=4, limit_val_batches=2,
                               check_val_every_n_epoch=2, num_sanity_val_steps=1),
        "fractions": dict(max_epochs=2, limit_train_batches=0.5, limit_val_batches=0.4, val_check_interval=0.5),
        "int_interval_max_steps": dict(max_epochs=5, val_check_interval=4, max_steps=13, log_every_n_steps=3),
        "interval_across_epochs": dict(max_epochs=3, val_check_interval=7, check_val_every_n_epoch=None,
                                       num_sanity_val_steps=0),
        "fast_dev_run": dict(fast_dev_run=3),
        "stop_epoch_early": dict(max_epochs=3, limit_val_batches=1, stop_at=4),
    }
    out = {"structure": {}, "numbers": {}}
    for name, cfg in configs.items():
        cfg = dict(cfg)
        model = Model(stop_at=cfg.pop("stop_at", None))
        set_weights(model, lib, seed=32)
        probe = Probe()
        logger = lib.loggers.CSVLogger(str(tmp_path), name=name) if "fast_dev_run" not in cfg else None
        kwargs = dict(logger=logger) if logger is not None else {}
        cfg.setdefault("log_every_n_steps", 1)
        tr = quiet_trainer(lib, tmp_path, callbacks=[probe], enable_checkpointing=False, **kwargs, **cfg)
        tr.fit(model, train, val)
        rec = {"vals": probe.vals, "batches": [probe.batches[k] for k in sorted(probe.batches)],
               "sanity": probe.sanity, "global_step": tr.global_step, "epoch": tr.current_epoch,
               "num_training_batches": tr.num_training_batches,
               "num_val_batches": [int(n) for n in tr.num_val_batches],
               "callback_metrics": sorted(tr.callback_metrics), "logged_metrics": sorted(tr.logged_metrics)}
        if logger is not None:
            rec["csv_rows"] = metrics_csv(logger.log_dir)[1]
        out["structure"][name] = rec
        if name == "limits_every_2":
            out["numbers"]["n_total"] = float(tr.callback_metrics["n_total"])
    preds = tr.predict(model, [val, loader(lib, x[:20], y[:20], batch_size=16)])
    out["structure"]["predict_two_loaders"] = [[list(p.shape) for p in per] for per in preds]
    two = tr.validate(model, [val, loader(lib, x[:20], y[:20], batch_size=16)], verbose=False)
    out["structure"]["validate_two_loaders"] = {"results": [sorted(d) for d in two],
                                                "callback_metrics": sorted(tr.callback_metrics)}
    out["numbers"]["val_loss_loader_1"] = [float(v) for v in two[1].values()][0]
    return out
