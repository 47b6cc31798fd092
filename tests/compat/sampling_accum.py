"""Imbalanced data: random_split with a seeded Generator, WeightedRandomSampler from class counts,
gradient accumulation over micro-batches, a custom Dataset and collate_fn, ReduceLROnPlateau."""
import numpy as np


def make_data(torch, n=400):
    rng = np.random.default_rng(11)
    y = (rng.random(n) < 0.15).astype(np.int64)  # ~15% positives
    x = (rng.normal(size=(n, 8)) + y[:, None] * 0.8).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


def sampling_accum(torch, sync, epochs=3, accum=4, exact=True):
    nn = torch.nn
    data = torch.utils.data

    class PairDataset(data.Dataset):
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return {"features": self.x[i], "label": self.y[i], "idx": i}

    x, y = make_data(torch)
    full = PairDataset(x, y)
    train_set, val_set = data.random_split(full, [0.8, 0.2], generator=torch.Generator().manual_seed(42))
    split_sizes = (len(train_set), len(val_set))
    if exact:  # same split in both libraries: rebuild it from a fixed permutation
        perm = np.random.default_rng(0).permutation(len(full)).tolist()
        train_set, val_set = data.Subset(full, perm[:320]), data.Subset(full, perm[320:])

    labels = torch.stack([full[i]["label"] for i in train_set.indices])
    counts = torch.bincount(labels, minlength=2)
    class_w = 1.0 / counts.float()
    sample_w = class_w[labels]
    sampler = data.WeightedRandomSampler(sample_w, num_samples=len(sample_w), replacement=True)
    seq = data.SequentialSampler(train_set) if exact else sampler

    def collate(batch):
        return (
            torch.stack([b["features"] for b in batch]),
            torch.tensor([b["label"].item() for b in batch]),
        )

    loader = data.DataLoader(train_set, batch_size=16, sampler=seq, collate_fn=collate)
    val_loader = data.DataLoader(val_set, batch_size=64)

    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2))
    sync("acc_model", model)
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=0)
    crit = nn.CrossEntropyLoss(weight=class_w)

    pos_frac, val_losses = [], []
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        n_pos = n_seen = 0
        for i, (xb, yb) in enumerate(loader):
            loss = crit(model(xb), yb) / accum
            loss.backward()
            n_pos += int(yb.sum())
            n_seen += len(yb)
            if (i + 1) % accum == 0 or (i + 1) == len(loader):
                opt.step()
                opt.zero_grad()
        pos_frac.append(n_pos / n_seen)
        model.eval()
        tot, cnt, correct = 0.0, 0, 0
        with torch.no_grad():
            for batch in val_loader:
                out = model(batch["features"])
                tot += nn.functional.cross_entropy(out, batch["label"], reduction="sum").item()
                cnt += batch["label"].numel()
                correct += (out.argmax(-1) == batch["label"]).sum().item()
                assert batch["idx"].dtype == torch.int64
        val_losses.append(tot / cnt)
        plateau.step(tot / cnt)

    # accumulation equivalence: 4 micro-batches of 8 == one batch of 32 (mean losses)
    xb, yb = x[:32], y[:32]
    model.zero_grad()
    for k in range(4):
        (nn.functional.cross_entropy(model(xb[8 * k : 8 * k + 8]), yb[8 * k : 8 * k + 8]) / 4).backward()
    g_acc = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    nn.functional.cross_entropy(model(xb), yb).backward()
    acc_err = max((a - p.grad).abs().max().item() for a, p in zip(g_acc, model.parameters()))

    return {
        "split_sizes": split_sizes,
        "counts": counts.tolist(),
        "pos_frac": pos_frac,
        "val_losses": val_losses,
        "val_acc": correct / cnt,
        "lr": opt.param_groups[0]["lr"],
        "accum_equivalence_err": acc_err,
        "checksum": sum(p.sum().item() for p in model.parameters()),
    }
