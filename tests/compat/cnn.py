"""A small CNN: Conv2d/BatchNorm2d/MaxPool/Dropout/AdaptiveAvgPool, SGD with nesterov momentum and a
cosine schedule stepped per batch, label smoothing, a confusion matrix at the end."""
import numpy as np


def _images(n, rng):
    # class 0: horizontal bar, 1: vertical bar, 2: diagonal, plus noise
    x = 0.3 * rng.normal(size=(n, 1, 12, 12)).astype(np.float32)
    y = rng.integers(0, 3, size=n)
    for i, c in enumerate(y):
        r = rng.integers(2, 10)
        if c == 0:
            x[i, 0, r, 2:10] += 1.0
        elif c == 1:
            x[i, 0, 2:10, r] += 1.0
        else:
            x[i, 0, np.arange(2, 10), np.arange(2, 10)] += 1.0
    return x, y


def small_cnn(torch, sync, epochs=3, p_drop=0.0):
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    xtr, ytr = _images(256, rng)
    xte, yte = _images(128, rng)
    train = torch.utils.data.TensorDataset(torch.tensor(xtr), torch.tensor(ytr))
    loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=False, drop_last=True)

    class Net(nn.Module):
        def __init__(self, n_classes=3):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 8, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(8),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding="same"),
                nn.BatchNorm2d(16),
                nn.ReLU(inplace=True),
            )
            self.pool = nn.AdaptiveAvgPool2d((1, 1))
            self.dropout = nn.Dropout(p_drop)
            self.fc = nn.Linear(16, n_classes)

        def forward(self, x):
            x = self.features(x)
            x = F.max_pool2d(x, kernel_size=2, stride=2)
            x = self.pool(x)
            x = x.view(x.size(0), -1)
            return self.fc(self.dropout(x))

    model = Net()
    sync("cnn", model)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "bn" in name or p.ndim == 1 else decay).append(p)
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
        lr=0.05, momentum=0.9, nesterov=True,
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader), eta_min=1e-4)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    lrs = []
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            out = model(xb)
            loss = criterion(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            lrs.append(opt.param_groups[0]["lr"])

    model.eval()
    xt, yt = torch.tensor(xte), torch.tensor(yte)
    with torch.no_grad():
        logits = model(xt)
        pred = logits.argmax(1)
        conf = torch.zeros(3, 3, dtype=torch.long)
        for t, p in zip(yt.tolist(), pred.tolist()):
            conf[t, p] += 1
        probs = logits.softmax(dim=-1)
        top_conf, _ = probs.max(dim=1)
    bn = model.features[1]
    return {
        "final_loss": loss.item(),
        "acc": (pred == yt).float().mean().item(),
        "confusion": conf.tolist(),
        "mean_conf": top_conf.mean().item(),
        "bn_running_mean": bn.running_mean.tolist(),
        "bn_running_var": bn.running_var.tolist(),
        "bn_batches": int(bn.num_batches_tracked),
        "lrs": lrs[::8],
        "n_decay": len(decay),
    }
