"""Fine-tuning code as LightningModules write it: a frozen backbone (``freeze``) unfrozen at epoch 1
in on_train_epoch_start, a head-only optimizer group extended with the backbone by
``add_param_group``, tensors made on ``self.device`` with ``self.dtype``, batch augmentation in
``on_after_batch_transfer``, validation outputs gathered in a list and reduced in
on_validation_epoch_end (with ``all_gather``), ``hparams_initial``, and what the module reads from
``self.trainer`` (max_epochs, num_training_batches, is_last_batch, evaluating, num_devices)."""
import numpy as np

from ._common import blobs, loader, num, quiet_trainer, set_weights


def finetune_program(lib, tmp_path):
    torch = lib.torch
    nn = torch.nn
    F = nn.functional
    seen = {"last_batches": [], "aug": 0}
    x, y = blobs(120, d=6, k=3, seed=41, spread=1.0)
    train = loader(lib, x[:80], y[:80], batch_size=16)
    val = loader(lib, x[80:], y[80:], batch_size=20)

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(6, 12), nn.Tanh())

        def forward(self, x):
            return self.body(x)

    class FineTuner(lib.Module):
        def __init__(self, lr=0.05, unfreeze_at=1):
            super().__init__()
            self.save_hyperparameters()
            self.backbone = Backbone()
            self.head = nn.Linear(12, 3)
            self.backbone_frozen_steps = 0
            self.val_logits, self.val_targets = [], []

        def forward(self, x):
            return self.head(self.backbone(x))

        def on_fit_start(self):
            self.backbone.requires_grad_(False)
            self.backbone.eval()

        def on_train_epoch_start(self):
            if self.current_epoch == self.hparams.unfreeze_at:
                self.backbone.requires_grad_(True)
                self.trainer.optimizers[0].add_param_group({"params": list(self.backbone.parameters()),
                                                            "lr": self.hparams.lr / 10})

        def on_after_batch_transfer(self, batch, dataloader_idx):
            x, y = batch
            if self.trainer.training:
                seen["aug"] += 1
                x = x + 0.05 * torch.ones(x.shape, device=self.device, dtype=self.dtype)
            return x, y

        def training_step(self, batch, batch_idx):
            x, y = batch
            if not next(self.backbone.parameters()).requires_grad:
                self.backbone_frozen_steps += 1
            loss = F.cross_entropy(self(x), y)
            self.log("train_loss", loss, prog_bar=True)
            if self.trainer.is_last_batch:
                seen["last_batches"].append([self.current_epoch, batch_idx])
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            logits = self(x)
            self.val_logits.append(logits)
            self.val_targets.append(y)
            self.log("val_loss", F.cross_entropy(logits, y))

        def on_validation_epoch_end(self):
            logits = self.all_gather(torch.cat(self.val_logits))
            targets = torch.cat(self.val_targets)
            self.log("val_acc", (logits.argmax(dim=-1) == targets).float().mean(), prog_bar=True)
            self.val_logits.clear()
            self.val_targets.clear()

        def configure_optimizers(self):
            return torch.optim.SGD(self.head.parameters(), lr=self.hparams.lr, momentum=0.9)

    model = FineTuner()
    set_weights(model, lib, seed=42)
    probe = {}
    Probe = type("Probe", (lib.Callback,), {
        "on_train_start": lambda self, t, m: probe.update(
            max_epochs=t.max_epochs, num_training_batches=t.num_training_batches, num_devices=t.num_devices,
            evaluating=t.evaluating, device=str(m.device), dtype=str(m.dtype).split(".")[-1]),
        "on_validation_start": lambda self, t, m: probe.setdefault("evaluating_in_val", []).append(
            [t.evaluating, t.sanity_checking]),
    })
    trainer = quiet_trainer(lib, tmp_path, max_epochs=3, callbacks=[Probe()], logger=False,
                            enable_checkpointing=False)
    trainer.fit(model, train, val)
    model.hparams.lr = 1.0
    structure = {
        "probe": probe, "last_batches": seen["last_batches"], "augmented_batches": seen["aug"],
        "backbone_frozen_steps": model.backbone_frozen_steps,
        "param_groups": [len(g["params"]) for g in trainer.optimizers[0].param_groups],
        "hparams_initial": dict(model.hparams_initial), "hparams": dict(model.hparams),
        "callback_metrics": sorted(trainer.callback_metrics), "global_rank": model.global_rank,
    }
    numbers = {"val_acc": num(trainer.callback_metrics["val_acc"]),
               "val_loss": num(trainer.callback_metrics["val_loss"]),
               "backbone_weight_sum": float(np.abs(model.backbone.body[0].weight.detach().numpy()).sum())}
    return {"structure": structure, "numbers": numbers}
