"""Manual optimization under the Trainer's ddp strategy (tests/test_distributed.py runs it on 1 and 2
processes): ``manual_backward`` averages the gradients over the ranks, so with the same global batch the
weights match one process's.

    trainer_manual.py OUT [--devices N]

Each step runs two ``manual_backward`` calls (the two halves of the rank's batch) before one optimizer
step, with gradient clipping in between. Rank 0 writes OUT/weights.ember.
"""
import os
import sys

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.train import Trainer, TrainModule
from ember.utils.data import DataLoader, TensorDataset

out = sys.argv[1]
devices = int(sys.argv[sys.argv.index("--devices") + 1]) if "--devices" in sys.argv else \
    int(os.environ.get("PMI_SIZE", "1"))
GLOBAL_BATCH = 16


class Manual(TrainModule):
    def __init__(self):
        super().__init__()
        ember.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        x, y = batch
        opt.zero_grad()
        h = x.shape[0] // 2
        for part in (slice(0, h), slice(h, None)):
            loss = F.mse_loss(self.net(x[part]), y[part]) / 2
            self.manual_backward(loss)
        self.clip_gradients(opt, gradient_clip_val=0.5, gradient_clip_algorithm="norm")
        opt.step()
        self.log("loss", loss, sync_dist=True)

    def configure_optimizers(self):
        return ember.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)


rng = np.random.default_rng(0)
X = rng.standard_normal((64, 4)).astype(np.float32)
Y = (X.sum(1, keepdims=True) * 0.5 + 0.3 * rng.standard_normal((64, 1))).astype(np.float32)
train = DataLoader(TensorDataset(ember.tensor(X), ember.tensor(Y)), batch_size=GLOBAL_BATCH // devices, shuffle=True)
trainer = Trainer(strategy="ddp", accelerator="cpu", devices=devices, max_epochs=2, logger=False,
                  enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
model = Manual()
trainer.fit(model, train)
if trainer.is_global_zero:
    ember.save(model.state_dict(), os.path.join(out, "weights.ember"))
print(f"MANUAL DONE {trainer.global_rank} step {trainer.global_step}", flush=True)
