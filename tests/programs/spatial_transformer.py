"""Spatial transformer tutorial style: a localization network regresses an affine matrix (initialised to
the identity), affine_grid + grid_sample warp the input, and a small CNN classifies the result."""
# compare: rtol=5e-4, atol=5e-5
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

from _common import same_init


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 4, kernel_size=3)
        self.conv2 = nn.Conv2d(4, 8, kernel_size=3)
        self.fc1 = nn.Linear(8 * 2 * 2, 16)
        self.fc2 = nn.Linear(16, 3)
        self.localization = nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=3), nn.MaxPool2d(2, stride=2), nn.ReLU(True),
            nn.Conv2d(4, 6, kernel_size=3), nn.ReLU(True),
        )
        self.fc_loc = nn.Sequential(nn.Linear(6 * 4 * 4, 12), nn.ReLU(True), nn.Linear(12, 3 * 2))

    def stn(self, x):
        xs = self.localization(x)
        xs = xs.view(-1, 6 * 4 * 4)
        theta = self.fc_loc(xs)
        theta = theta.view(-1, 2, 3)
        grid = F.affine_grid(theta, x.size(), align_corners=False)
        return F.grid_sample(x, grid, align_corners=False), theta

    def forward(self, x):
        x, theta = self.stn(x)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = x.view(-1, 8 * 2 * 2)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1), theta


rng = np.random.default_rng(4)
n = 96
labels = rng.integers(0, 3, size=n)
images = rng.normal(0, 0.2, size=(n, 1, 14, 14)).astype(np.float32)
for i, c in enumerate(labels):  # a bar: horizontal, vertical or diagonal, shifted at random
    s = int(rng.integers(3, 10))
    if c == 0:
        images[i, 0, s, 2:12] += 1.0
    elif c == 1:
        images[i, 0, 2:12, s] += 1.0
    else:
        for k in range(10):
            images[i, 0, 2 + k, 2 + k] += 1.0
loader = DataLoader(TensorDataset(torch.from_numpy(images), torch.from_numpy(labels)), batch_size=32, shuffle=False)

model = same_init(Net(), seed=2)
with torch.no_grad():  # start from the identity transformation, as the tutorial does
    model.fc_loc[2].weight.zero_()
    model.fc_loc[2].bias.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for epoch in range(1, 4):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        optimizer.zero_grad()
        output, _ = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        correct, total_loss = 0, 0.0
        for data, target in loader:
            output, theta = model(data)
            total_loss += F.nll_loss(output, target, reduction="sum").item()
            correct += output.max(1, keepdim=True)[1].eq(target.view_as(output.max(1, keepdim=True)[1])).sum().item()
    print(f"epoch {epoch}: loss {total_loss / n:.5f} accuracy {correct}/{n} "
          f"mean theta {[round(v, 4) for v in theta.mean(0).flatten().tolist()]}")
