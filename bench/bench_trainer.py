"""Trainer overhead: ``Trainer.fit`` vs a hand-written ember loop on the same tiny model.

Both loops iterate the same list of pre-collated batches (so data loading is not measured) and
run the same forward/backward/step. The Trainer logs the loss every step with ``self.log`` and
writes a CSV log; checkpointing, the progress bar and the model summary are off (``--defaults``
measures with everything at its default instead). Runs are interleaved (the machine may be
shared); prints the min and median µs per step of each and the overhead.

    python bench/bench_trainer.py [--steps 3000] [--repeats 7] [--defaults]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--defaults", action="store_true", help="progress bar, summary, checkpoints on")
    ap.add_argument("--no-logger", action="store_true", help="self.log still runs; no CSV logger")
    a = ap.parse_args()

    import ember
    import ember.nn as nn
    import ember.nn.functional as F
    from ember.train import Callback, Trainer, TrainModule

    class Clock(Callback):
        """Times the training loop itself (on_train_start -> on_train_end): the one-off costs of
        fit (setup, learning-curve PNG at the end) are not per-step overhead."""

        def on_train_start(self, trainer, module):
            self.t0 = time.perf_counter(), time.process_time()

        def on_train_end(self, trainer, module):
            self.elapsed = time.perf_counter() - self.t0[0], time.process_time() - self.t0[1]

    rng = np.random.default_rng(0)
    batches = [(ember.tensor(rng.standard_normal((16, 8)).astype(np.float32)),
                ember.tensor(rng.standard_normal((16, 1)).astype(np.float32))) for _ in range(a.steps)]

    class Tiny(TrainModule):
        def __init__(self):
            super().__init__()
            self.l1, self.l2 = nn.Linear(8, 16), nn.Linear(16, 1)

        def forward(self, x):
            return self.l2(F.relu(self.l1(x)))

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.mse_loss(self(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return ember.optim.SGD(self.parameters(), lr=0.01)

    def hand():
        ember.manual_seed(0)
        m = Tiny()
        opt = ember.optim.SGD(m.parameters(), lr=0.01)
        t = time.perf_counter(), time.process_time()
        for x, y in batches:
            opt.zero_grad()
            loss = F.mse_loss(m(x), y)
            loss.backward()
            opt.step()
        return time.perf_counter() - t[0], time.process_time() - t[1]

    def trainer():
        ember.manual_seed(0)
        m = Tiny()
        with tempfile.TemporaryDirectory() as d:
            kw = {} if a.defaults else dict(enable_checkpointing=False, enable_progress_bar=False,
                                            enable_model_summary=False)
            if a.no_logger:
                kw["logger"] = False
            clock = Clock()
            tr = Trainer(max_epochs=1, default_root_dir=d, num_sanity_val_steps=0, callbacks=[clock], **kw)
            tr.fit(m, batches)
        assert tr.global_step == a.steps
        return clock.elapsed

    hand(), trainer()  # warm up
    h, tr = [], []
    for _ in range(a.repeats):  # interleaved, so that load from other processes hits both alike
        h.append(hand())
        tr.append(trainer())
    us = 1e6 / a.steps
    what = f"self.log every step{'' if a.no_logger else ', CSV logger'}{', defaults' if a.defaults else ''}"
    print(f"{a.steps} steps x {a.repeats} interleaved runs; Trainer: {what}")
    # wall clock, and CPU time of this process (less disturbed when other processes share the cores)
    for i, clock in enumerate(("wall", "cpu ")):
        hh, tt = [x[i] * us for x in h], [x[i] * us for x in tr]
        hs, ts, hm, tm = min(hh), min(tt), statistics.median(hh), statistics.median(tt)
        paired = statistics.median(t - x for x, t in zip(hh, tt))  # each trainer run minus the hand run before
        print(f"[{clock}] hand-written loop {hs:7.1f} us/step min {hm:7.1f} median | Trainer.fit {ts:7.1f} min "
              f"{tm:7.1f} median | overhead {ts - hs:5.1f} (min-min) {tm - hm:5.1f} (median-median) "
              f"{paired:5.1f} (paired median) us/step, ratio {ts / hs:.2f}x; target < 50 us")


if __name__ == "__main__":
    main()
