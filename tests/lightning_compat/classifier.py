"""A classifier as most LightningModules are written: shared step, self.log / log_dict with
on_step/on_epoch/prog_bar/batch_size, SGD + StepLR in a dict config, ModelCheckpoint (top-2 on
val_loss, last), LearningRateMonitor, CSVLogger, then trainer.validate / test(ckpt_path="best") /
predict. Every callback and module hook is recorded."""
import os

from ._common import blobs, compress, files, loader, lrs, metrics_csv, num, quiet_trainer, recorder, recording_module, \
    set_weights


def classifier_program(lib, tmp_path):
    torch = lib.torch
    nn = torch.nn
    F = nn.functional
    calls = []

    x, y = blobs(150, d=8, k=3, seed=1, spread=0.6)
    train = loader(lib, x[:96], y[:96], batch_size=16)      # 6 batches
    val = loader(lib, x[96:126], y[96:126], batch_size=16)   # 16 + 14: the epoch mean is weighted
    test = loader(lib, x[126:], y[126:], batch_size=10)     # 10 + 10 + 4
    Base = recording_module(lib, calls)

    class Classifier(Base):
        def __init__(self, n_in=8, hidden=16, n_classes=3, lr=0.2):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_classes))

        def forward(self, x):
            return self.net(x)

        def _shared(self, batch):
            x, y = batch
            logits = self(x)
            loss = F.cross_entropy(logits, y)
            acc = (logits.argmax(dim=1) == y).float().mean()
            return loss, acc

        def training_step(self, batch, batch_idx):
            loss, acc = self._shared(batch)
            self.log("train_loss", loss)
            self.log("train_acc", acc, on_step=True, on_epoch=True, prog_bar=True)
            return loss

        def validation_step(self, batch, batch_idx):
            loss, acc = self._shared(batch)
            self.log_dict({"val_loss": loss, "val_acc": acc}, prog_bar=True, batch_size=len(batch[1]))

        def test_step(self, batch, batch_idx):
            loss, acc = self._shared(batch)
            self.log_dict({"test_loss": loss, "test_acc": acc}, batch_size=batch[0].shape[0])

        def predict_step(self, batch, batch_idx, dataloader_idx=0):
            return self(batch[0]).argmax(dim=1)

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    model = Classifier()
    set_weights(model, lib, seed=1)
    ckpt = lib.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=2, save_last=True)
    lr_mon = lib.callbacks.LearningRateMonitor(logging_interval="epoch")
    logger = lib.loggers.CSVLogger(str(tmp_path), name="clf")
    trainer = quiet_trainer(lib, tmp_path, max_epochs=3, callbacks=[recorder(lib, calls), lr_mon, ckpt],
                            logger=logger, log_every_n_steps=2)
    trainer.fit(model, train, val)
    fit_calls = list(calls)
    del calls[:]
    fit_metrics = {k: num(v) for k, v in trainer.callback_metrics.items()}
    fit_logged = sorted(trainer.logged_metrics)

    validated = trainer.validate(model, val, verbose=False)
    validate_calls = list(calls)
    del calls[:]
    tested = trainer.test(dataloaders=test, ckpt_path="best", verbose=False)
    test_calls = list(calls)
    del calls[:]
    preds = trainer.predict(model, test)
    predict_calls = list(calls)

    cols, rows = metrics_csv(logger.log_dir)
    structure = {
        "fit_hooks": compress(fit_calls), "validate_hooks": compress(validate_calls),
        "test_hooks": compress(test_calls), "predict_hooks": compress(predict_calls),
        "global_step": trainer.global_step, "current_epoch": trainer.current_epoch,
        "callback_metrics_after_fit": sorted(fit_metrics),
        "logged_metrics_after_fit": fit_logged,
        "progress_bar_metrics": sorted(trainer.progress_bar_metrics),
        "csv_columns": cols, "csv_rows": rows,
        "checkpoints": files(os.path.join(logger.log_dir, "checkpoints")),
        "best_model": os.path.basename(ckpt.best_model_path),
        "last_model": os.path.basename(ckpt.last_model_path),
        "best_k_models": sorted(os.path.basename(p) for p in ckpt.best_k_models),
        "validate_keys": [sorted(d) for d in validated], "test_keys": [sorted(d) for d in tested],
        "predictions": [list(p.shape) for p in preds],
        "final_lr": lrs(trainer.optimizers[0]),
        "hparams": dict(model.hparams),
        "log_dir": os.path.relpath(logger.log_dir, str(tmp_path)),
    }
    numbers = {
        "val_loss": fit_metrics["val_loss"], "val_acc": fit_metrics["val_acc"],
        "train_acc_epoch": fit_metrics["train_acc_epoch"],
        "validate_val_loss": num(validated[0]["val_loss"]),
        "test_loss": num(tested[0]["test_loss"]), "test_acc": num(tested[0]["test_acc"]),
        "best_model_score": num(ckpt.best_model_score),
        "predicted_class_sum": int(sum(int(p.sum()) for p in preds)),
    }
    return {"structure": structure, "numbers": numbers}
