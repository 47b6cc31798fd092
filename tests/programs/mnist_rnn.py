"""pytorch/examples mnist_rnn style: an LSTM reads an image row by row (batch_first), then classifies."""
# compare: rtol=5e-4, atol=5e-5
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset

from _common import same_init


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.rnn = nn.LSTM(input_size=12, hidden_size=24, batch_first=True)
        self.batchnorm = nn.BatchNorm1d(24)
        self.dropout1 = nn.Dropout2d(0.0)
        self.dropout2 = nn.Dropout(0.0)
        self.fc1 = nn.Linear(24, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, input):
        input = input.reshape(-1, 12, 12)
        output, hidden = self.rnn(input)
        output = output[:, -1, :]
        output = self.batchnorm(output)
        output = self.dropout1(output)
        output = self.fc1(output)
        output = F.relu(output)
        output = self.dropout2(output)
        output = self.fc2(output)
        output = F.log_softmax(output, dim=1)
        return output


rng = np.random.default_rng(3)
n = 160
y = rng.integers(0, 4, size=n)
x = rng.normal(0, 0.5, size=(n, 1, 12, 12)).astype(np.float32)
for i, c in enumerate(y):  # class = which quarter of the rows is bright
    x[i, 0, 3 * c:3 * c + 3, :] += 1.0
loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=32, shuffle=False)

torch.manual_seed(0)
model = same_init(Net())
optimizer = optim.Adam(model.parameters(), lr=0.01)
scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
for epoch in range(1, 4):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % 2 == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(loader.dataset)}]\tLoss: {loss.item():.6f}")
    scheduler.step()
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(x))
        test_loss = F.nll_loss(out, torch.from_numpy(y), reduction="sum").item() / n
        correct = out.argmax(dim=1).eq(torch.from_numpy(y)).sum().item()
    print(f"Test set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{n}")
print("running mean:", [f"{v:.4f}" for v in model.batchnorm.running_mean[:4].tolist()])
