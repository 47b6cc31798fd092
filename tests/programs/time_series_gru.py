"""Time-series forecasting tutorial style: sliding windows over noisy sine waves, a GRU regressor,
Adam with ReduceLROnPlateau, early evaluation and an autoregressive forecast."""
# compare: rtol=5e-4, atol=5e-5
import math

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from _common import same_init

rng = np.random.default_rng(11)
t = np.arange(0, 200) * 0.1
series = (np.sin(t) + 0.5 * np.sin(2.3 * t) + rng.normal(0, 0.05, size=t.shape)).astype(np.float32)
window = 12
xs = np.stack([series[i:i + window] for i in range(len(series) - window)])[..., None]
ys = series[window:][:, None]
split = 150
train_ds = TensorDataset(torch.tensor(xs[:split]), torch.tensor(ys[:split]))
val_x, val_y = torch.tensor(xs[split:]), torch.tensor(ys[split:])
loader = DataLoader(train_ds, batch_size=25, shuffle=False)


class Forecaster(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.gru = nn.GRU(input_size=1, hidden_size=hidden, num_layers=1, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x, h0=None):
        out, h = self.gru(x, h0)
        return self.head(out[:, -1]), h


model = same_init(Forecaster(), seed=5)
optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=1)
loss_fn = nn.MSELoss()
for epoch in range(6):
    model.train()
    running = 0.0
    for xb, yb in loader:
        pred, _ = model(xb)
        loss = loss_fn(pred, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += loss.item() * xb.size(0)
    model.eval()
    with torch.no_grad():
        val_pred, _ = model(val_x)
        val_loss = loss_fn(val_pred, val_y).item()
    scheduler.step(val_loss)
    print(f"epoch {epoch}: train mse {running / split:.6f} val mse {val_loss:.6f} "
          f"rmse {math.sqrt(val_loss):.5f} lr {optimizer.param_groups[0]['lr']:.4f}")

# autoregressive forecast: feed each prediction back as the newest observation
with torch.no_grad():
    ctx = torch.tensor(series[-window:]).view(1, window, 1)
    forecast = []
    for _ in range(5):
        nxt, _ = model(ctx)
        forecast.append(round(nxt.item(), 4))
        ctx = torch.cat([ctx[:, 1:], nxt.view(1, 1, 1)], dim=1)
print("forecast:", forecast)
print("parameters:", sum(p.numel() for p in model.parameters() if p.requires_grad))
