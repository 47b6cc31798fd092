"""pytorch/examples siamese_network style: twin encoders share weights, pairs of samples (same class or
not), a contrastive loss on the pairwise distance and a BCE head on the absolute difference; SGD with
momentum and a StepLR schedule; accuracy of "same class" decisions."""
# compare: rtol=5e-4, atol=5e-5
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from _common import same_init


class PairDataset(Dataset):
    def __init__(self, n_pairs, seed):
        rng = np.random.default_rng(seed)
        centers = rng.normal(0, 1.5, size=(4, 6))
        self.x1, self.x2, self.same = [], [], []
        for k in range(n_pairs):
            a = int(rng.integers(0, 4))
            b = a if k % 2 == 0 else int((a + rng.integers(1, 4)) % 4)
            self.x1.append(centers[a] + rng.normal(0, 0.6, size=6))
            self.x2.append(centers[b] + rng.normal(0, 0.6, size=6))
            self.same.append(float(a == b))

    def __len__(self):
        return len(self.same)

    def __getitem__(self, i):
        return (torch.tensor(self.x1[i], dtype=torch.float32), torch.tensor(self.x2[i], dtype=torch.float32),
                torch.tensor(self.same[i]))


class SiameseNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(6, 16), nn.ReLU(inplace=True), nn.Linear(16, 8))
        self.head = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward_once(self, x):
        return self.encoder(x)

    def forward(self, input1, input2):
        out1, out2 = self.forward_once(input1), self.forward_once(input2)
        return out1, out2, self.head(torch.abs(out1 - out2)).view(-1)


def contrastive_loss(out1, out2, label, margin=2.0):
    d = F.pairwise_distance(out1, out2, keepdim=False)
    return torch.mean(label * d.pow(2) + (1 - label) * torch.clamp(margin - d, min=0.0).pow(2))


train_loader = DataLoader(PairDataset(128, 0), batch_size=32, shuffle=False)
test_loader = DataLoader(PairDataset(64, 1), batch_size=64, shuffle=False)
model = same_init(SiameseNetwork(), seed=9)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
bce = nn.BCEWithLogitsLoss()
for epoch in range(1, 5):
    model.train()
    total = 0.0
    for x1, x2, same in train_loader:
        optimizer.zero_grad()
        o1, o2, logit = model(x1, x2)
        loss = contrastive_loss(o1, o2, same) + bce(logit, same)
        loss.backward()
        optimizer.step()
        total += loss.item()
    scheduler.step()
    model.eval()
    with torch.no_grad():
        x1, x2, same = next(iter(test_loader))
        o1, o2, logit = model(x1, x2)
        acc = ((torch.sigmoid(logit) > 0.5).float() == same).float().mean().item()
        cos = F.cosine_similarity(o1, o2, dim=1)
        print(f"epoch {epoch}: train loss {total / len(train_loader):.5f} test accuracy {acc:.4f} "
              f"cos same {cos[same == 1].mean().item():.4f} cos diff {cos[same == 0].mean().item():.4f}")
