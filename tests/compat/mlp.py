"""An MLP classifier: TensorDataset/DataLoader, CrossEntropyLoss, Adam, StepLR, train/eval, no_grad
evaluation, accuracy via argmax, state_dict save/load."""
import os
import tempfile

import numpy as np


def mlp_classifier(torch, sync, epochs=6, shuffle=False):
    nn = torch.nn
    from_numpy = torch.from_numpy
    DataLoader = torch.utils.data.DataLoader
    TensorDataset = torch.utils.data.TensorDataset

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 20)).astype(np.float32)
    W = rng.normal(size=(20, 4)).astype(np.float32)
    y = (X @ W + 0.3 * rng.normal(size=(600, 4))).argmax(axis=1)
    X, y = from_numpy(X), from_numpy(y)
    train_ds = TensorDataset(X[:500], y[:500])
    X_val, y_val = X[500:], y[500:]
    train_loader = DataLoader(train_ds, batch_size=32, shuffle=shuffle)

    class MLP(nn.Module):
        def __init__(self, d_in, hidden, n_classes, p=0.0):
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(d_in, hidden),
                nn.ReLU(),
                nn.Dropout(p),
                nn.Linear(hidden, hidden),
                nn.GELU(),
                nn.Linear(hidden, n_classes),
            )

        def forward(self, x):
            return self.net(x)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = MLP(20, 64, 4).to(device)
    sync("mlp", model)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)

    history = []
    for epoch in range(epochs):
        model.train()
        running, seen = 0.0, 0
        for xb, yb in train_loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            logits = model(xb)
            loss = criterion(logits, yb)
            loss.backward()
            optimizer.step()
            running += loss.item() * xb.size(0)
            seen += xb.shape[0]
        scheduler.step()

        model.eval()
        with torch.no_grad():
            val_logits = model(X_val)
            val_loss = criterion(val_logits, y_val).item()
            preds = val_logits.argmax(dim=1)
            acc = (preds == y_val).float().mean().item()
            correct = (preds == y_val).sum().item()
        lr = scheduler.get_last_lr()[0]
        history.append(f"epoch {epoch}: train {running / seen:.4f} val {val_loss:.4f} acc {acc:.3f} lr {lr:.2e}")

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.pt")
        torch.save({"model": model.state_dict(), "epoch": epochs, "acc": acc}, path)
        ckpt = torch.load(path)
        restored = MLP(20, 64, 4)
        restored.load_state_dict(ckpt["model"])
        restored.eval()
        with torch.no_grad():
            same = torch.allclose(restored(X_val), model(X_val))

    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    return {
        "train_loss": running / seen,
        "val_loss": val_loss,
        "acc": acc,
        "correct": correct,
        "lr": lr,
        "n_params": n_params,
        "checksum": checksum,
        "restored_same": bool(same),
        "ckpt_epoch": ckpt["epoch"],
        "history": history,
    }
