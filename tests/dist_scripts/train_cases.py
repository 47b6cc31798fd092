"""Train small models for 20 steps on one global batch schedule, on 1 process or N MPI ranks.

``python train_cases.py OUT.ember`` (plain: one process, global batch, no DDP) or
``mpiexec -n N python train_cases.py OUT.ember`` (DDP; SyncBatchNorm for the CNN). Rank 0 writes every
case's final state dict to OUT. tests/test_distributed.py compares the two.
"""
import os
import sys

import numpy as np

import ember
import ember.nn as nn

STEPS, B = 20, 8


def models():
    def mlp():
        return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))

    def cnn():
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(4 * 3 * 3, 3))

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 8, batch_first=True)
            self.head = nn.Linear(8, 3)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.head(y[:, -1])

    class TinyTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(3, 8)
            self.enc = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
            self.head = nn.Linear(8, 3)

        def forward(self, x):
            return self.head(self.enc(self.inp(x)).mean(1))

    return {"mlp": (mlp, (6,)), "cnn": (cnn, (2, 6, 6)), "lstm": (LSTMNet, (5, 3)), "transformer": (TinyTransformer, (5, 3))}


# case name -> (model, micro-batches per optimizer step, clip norm, scheduler)
CASES = {
    "mlp": ("mlp", 1, None, False),
    "cnn": ("cnn", 1, None, False),
    "lstm": ("lstm", 1, None, False),
    "transformer": ("transformer", 1, None, False),
    "mlp_accum_clip_sched": ("mlp", 2, 0.5, True),
    "cnn_accum_clip_sched": ("cnn", 2, 0.5, True),
    "lstm_accum_clip_sched": ("lstm", 2, 0.5, True),
    "transformer_accum_clip_sched": ("transformer", 2, 0.5, True),
}


def run_case(name, world, rank, ddp):
    model_name, accum, clip, sched = CASES[name]
    make, shape = models()[model_name]
    ember.manual_seed(0)
    model = make()
    rng = np.random.default_rng(1)
    n = STEPS * accum * B
    X = ember.tensor(rng.standard_normal((n,) + shape).astype(np.float32))
    Y = ember.tensor(rng.integers(0, 3, n))
    if ddp:
        from ember.nn.parallel import DistributedDataParallel

        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = DistributedDataParallel(model, bucket_cap_mb=0.001)  # several buckets even for tiny models
    else:
        net = model
    opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = ember.optim.lr_scheduler.StepLR(opt, 5, gamma=0.5) if sched else None
    per = B // world
    loss_fn = nn.CrossEntropyLoss()
    for step in range(STEPS):
        opt.zero_grad()
        for m in range(accum):
            start = (step * accum + m) * B + rank * per
            xb, yb = X[start:start + per], Y[start:start + per]
            last = m == accum - 1
            if ddp and not last:
                with net.no_sync():
                    loss = loss_fn(net(xb), yb) / accum
                    loss.backward()
            else:
                loss = loss_fn(net(xb), yb) / accum
                loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if scheduler is not None:
            scheduler.step()
    return model.state_dict()


def main():
    out = sys.argv[1]
    cases = sys.argv[2].split(",") if len(sys.argv) > 2 else list(CASES)
    ddp = "OMPI_COMM_WORLD_SIZE" in os.environ or "PMI_SIZE" in os.environ or "PMI_RANK" in os.environ
    world, rank = 1, 0
    if ddp:
        import ember.distributed as dist

        dist.init_process_group("mpi")
        world, rank = dist.get_world_size(), dist.get_rank()
    result = {name: run_case(name, world, rank, ddp) for name in cases}
    if ddp:
        # every rank must end with the same weights: compare with rank 0's
        import ember.distributed as dist

        for name, sd in result.items():
            for k, v in sd.items():
                ref = v.clone()
                dist.broadcast(ref, src=0)
                if not np.array_equal(ref.numpy(), v.numpy()):
                    raise AssertionError(f"rank {rank}: {name}.{k} differs from rank 0's")
    if rank == 0:
        ember.save(result, out)


if __name__ == "__main__":
    main()
