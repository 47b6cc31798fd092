"""A GAN with manual optimisation, written as Lightning's docs show it: two optimizers and two
schedulers from configure_optimizers, ``self.optimizers()`` / ``self.lr_schedulers()``,
``self.manual_backward``, ``self.clip_gradients``, schedulers stepped in on_train_epoch_end,
losses logged with log_dict(prog_bar=True). The noise comes with the batch so both libraries see
the same numbers. Callback hooks are recorded."""
import numpy as np

from ._common import compress, lrs, metrics_csv, num, quiet_trainer, recorder, set_weights


def manual_gan_program(lib, tmp_path):
    torch = lib.torch
    nn = torch.nn
    F = nn.functional
    calls = []

    rng = np.random.default_rng(11)
    real = (rng.normal(size=(64, 2)) * [0.5, 0.2] + [2.0, -1.0]).astype(np.float32)
    noise = rng.normal(size=(64, 3)).astype(np.float32)
    ds = torch.utils.data.TensorDataset(torch.from_numpy(real), torch.from_numpy(noise))
    train = torch.utils.data.DataLoader(ds, batch_size=16)

    class GAN(lib.Module):
        def __init__(self, lr=2e-3):
            super().__init__()
            self.save_hyperparameters()
            self.automatic_optimization = False
            self.generator = nn.Sequential(nn.Linear(3, 16), nn.LeakyReLU(0.2), nn.Linear(16, 2))
            self.discriminator = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

        def forward(self, z):
            return self.generator(z)

        def training_step(self, batch, batch_idx):
            x, z = batch
            opt_g, opt_d = self.optimizers()
            ones = torch.ones(x.shape[0], 1)
            zeros = torch.zeros(x.shape[0], 1)

            fake = self(z)
            d_loss = F.binary_cross_entropy_with_logits(self.discriminator(x), ones) + \
                F.binary_cross_entropy_with_logits(self.discriminator(fake.detach()), zeros)
            opt_d.zero_grad()
            self.manual_backward(d_loss)
            self.clip_gradients(opt_d, gradient_clip_val=1.0, gradient_clip_algorithm="norm")
            opt_d.step()

            g_loss = F.binary_cross_entropy_with_logits(self.discriminator(self(z)), ones)
            opt_g.zero_grad()
            self.manual_backward(g_loss)
            opt_g.step()
            self.log_dict({"g_loss": g_loss, "d_loss": d_loss}, prog_bar=True)

        def on_train_epoch_end(self):
            sch_g, sch_d = self.lr_schedulers()
            sch_g.step()
            sch_d.step()

        def configure_optimizers(self):
            lr = self.hparams.lr
            opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.999))
            opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
            sch_g = torch.optim.lr_scheduler.StepLR(opt_g, step_size=1, gamma=0.5)
            sch_d = torch.optim.lr_scheduler.ExponentialLR(opt_d, gamma=0.8)
            return [opt_g, opt_d], [sch_g, sch_d]

    model = GAN()
    set_weights(model, lib, seed=12)
    logger = lib.loggers.CSVLogger(str(tmp_path), name="gan")
    trainer = quiet_trainer(lib, tmp_path, max_epochs=3, callbacks=[recorder(lib, calls)], logger=logger,
                            log_every_n_steps=2)
    trainer.fit(model, train)
    cols, rows = metrics_csv(logger.log_dir)
    structure = {
        "hooks": compress(calls), "global_step": trainer.global_step, "current_epoch": trainer.current_epoch,
        "lrs": [lrs(o) for o in trainer.optimizers],
        "callback_metrics": sorted(trainer.callback_metrics), "progress_bar": sorted(trainer.progress_bar_metrics),
        "csv_columns": cols, "csv_rows": rows,
        "n_optimizers": len(trainer.optimizers), "n_schedulers": len(trainer.lr_scheduler_configs),
    }
    numbers = {
        "g_loss": num(trainer.callback_metrics["g_loss"]), "d_loss": num(trainer.callback_metrics["d_loss"]),
        "sample_mean": float(model(torch.from_numpy(noise)).detach().mean()),
    }
    return {"structure": structure, "numbers": numbers}
