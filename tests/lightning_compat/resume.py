"""Checkpoints and resuming as users do it: two ModelCheckpoints with an explicit dirpath, one
saving every 4 training steps (save_top_k=-1, mid-epoch files), one at each epoch end with
save_last; a module adding to the checkpoint in on_save_checkpoint and reading it back in
on_load_checkpoint; a second Trainer resuming with ckpt_path="last" (a longer max_epochs) and
monitoring val_loss, then trainer.validate(ckpt_path="best"); a third run resuming from an explicit
mid-epoch file. Hooks and counters are recorded."""
import os

from ._common import blobs, compress, files, loader, num, quiet_trainer, recorder, set_weights


def resume_program(lib, tmp_path):
    torch = lib.torch
    nn = torch.nn
    F = nn.functional
    x, y = blobs(128, d=5, k=2, seed=21)
    train = loader(lib, x[:80], y[:80], batch_size=16)  # 5 batches
    val = loader(lib, x[80:], y[80:], batch_size=24)
    loaded_extra = []

    class Model(lib.Module):
        def __init__(self, hidden=8):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(5, hidden), nn.ReLU(), nn.Linear(hidden, 2))
            self.seen_batches = 0

        def training_step(self, batch, batch_idx):
            self.seen_batches += 1
            x, y = batch
            loss = F.cross_entropy(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", F.cross_entropy(self.net(x), y))

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.5)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 2, gamma=0.1)}

        def on_save_checkpoint(self, checkpoint):
            checkpoint["seen_batches"] = self.seen_batches

        def on_load_checkpoint(self, checkpoint):
            self.seen_batches = checkpoint["seen_batches"]
            loaded_extra.append(checkpoint["seen_batches"])

    ckdir = os.path.join(str(tmp_path), "ckpts")

    def run(max_epochs, ckpt_path=None, extra=(), **ckpt_kwargs):
        calls, counters = [], []
        rec = recorder(lib, calls)
        count = type("Counters", (lib.Callback,), {
            "on_train_epoch_start": lambda self, t, m: counters.append(["epoch_start", t.current_epoch,
                                                                        t.global_step]),
            "on_train_end": lambda self, t, m: counters.append(["train_end", t.current_epoch, t.global_step]),
        })()
        ckpt = lib.callbacks.ModelCheckpoint(dirpath=ckdir, **ckpt_kwargs)
        model = Model()
        set_weights(model, lib, seed=22)
        tr = quiet_trainer(lib, tmp_path, max_epochs=max_epochs, callbacks=[rec, count, ckpt, *extra], logger=False,
                           num_sanity_val_steps=1)
        tr.fit(model, train, val, ckpt_path=ckpt_path)
        return tr, model, ckpt, calls, counters

    # (with every_n_train_steps alone, Lightning 2.6 keeps last.ckpt at the last step-triggered save,
    # ember at the epoch end: see docs/differences.md; an epoch-end ModelCheckpoint makes them agree)
    every = lib.callbacks.ModelCheckpoint(dirpath=ckdir, every_n_train_steps=4, save_top_k=-1,
                                          filename="{epoch}-{step}")
    tr1, m1, ck1, calls1, cnt1 = run(2, extra=[every], save_last=True)
    files_after_first = files(ckdir)
    tr2, m2, ck2, calls2, cnt2 = run(4, ckpt_path="last", monitor="val_loss", save_last=True,
                                      filename="best-{epoch}")
    validated = tr2.validate(m2, val, ckpt_path="best", verbose=False)
    tr3, m3, ck3, calls3, cnt3 = run(3, ckpt_path=os.path.join(ckdir, "epoch=1-step=8.ckpt"), save_top_k=0)
    structure = {
        "files_after_first": files_after_first, "files_after_second": files(ckdir),
        "first": {"hooks": compress(calls1), "counters": cnt1, "global_step": tr1.global_step,
                  "seen": m1.seen_batches, "last": os.path.basename(ck1.last_model_path)},
        "second": {"hooks": compress(calls2), "counters": cnt2, "global_step": tr2.global_step,
                   "epoch": tr2.current_epoch, "seen": m2.seen_batches,
                   "lr": [round(g["lr"], 10) for g in tr2.optimizers[0].param_groups],
                   "best": os.path.basename(ck2.best_model_path), "ckpt_path": os.path.basename(tr2.ckpt_path)},
        "third": {"counters": cnt3, "global_step": tr3.global_step, "seen": m3.seen_batches},
        "loaded_extra": loaded_extra, "validate_keys": [sorted(d) for d in validated],
    }
    numbers = {"val_loss_best": num(validated[0]["val_loss"]), "best_score": num(ck2.best_model_score)}
    return {"structure": structure, "numbers": numbers}
