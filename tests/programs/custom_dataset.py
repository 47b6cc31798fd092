"""Datasets and DataLoaders (the tutorial): a custom Dataset, transforms, TensorDataset, samplers, collate_fn."""
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split


class CustomSignalDataset(Dataset):
    def __init__(self, n, transform=None, target_transform=None):
        rng = np.random.default_rng(0)
        self.signals = rng.normal(size=(n, 3, 4)).astype(np.float32)
        self.labels = rng.integers(0, 3, size=n)
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        x = torch.from_numpy(self.signals[idx])
        y = int(self.labels[idx])
        if self.transform:
            x = self.transform(x)
        if self.target_transform:
            y = self.target_transform(y)
        return x, y


def one_hot(y):
    return torch.zeros(3, dtype=torch.float).scatter_(0, torch.tensor(y), value=1)


ds = CustomSignalDataset(10, transform=lambda x: x * 2, target_transform=one_hot)
print("len:", len(ds), "item shapes:", tuple(ds[0][0].shape), ds[0][1].tolist())
loader = DataLoader(ds, batch_size=4, shuffle=False)
for xb, yb in loader:
    print("batch:", tuple(xb.shape), tuple(yb.shape), f"{xb.sum().item():.4f}", yb.argmax(1).tolist())
print("batches:", len(loader), "drop_last:", len(DataLoader(ds, batch_size=4, drop_last=True)))

tds = TensorDataset(torch.arange(12).view(6, 2), torch.arange(6))
print("tensor dataset:", tds[2][0].tolist(), tds[2][1].item(), len(tds))
sub = Subset(tds, [5, 0, 3])
print("subset:", [sub[i][1].item() for i in range(len(sub))])
parts = random_split(range(10), [7, 3], generator=torch.Generator().manual_seed(42))
print("random_split sizes:", [len(p) for p in parts], sorted(list(parts[0]) + list(parts[1])) == list(range(10)))


def collate_dict(batch):
    xs, ys = zip(*batch)
    return {"x": torch.stack(xs), "y": torch.tensor(ys), "n": len(batch)}


for batch in DataLoader(CustomSignalDataset(5), batch_size=2, collate_fn=collate_dict):
    print("dict batch:", tuple(batch["x"].shape), batch["y"].tolist(), batch["n"])


def pairs():
    for i in range(5):
        yield {"a": torch.tensor([i, i + 1]), "b": float(i)}


print("default collate of dicts:", [(b["a"].tolist(), b["b"].tolist()) for b in DataLoader(list(pairs()), batch_size=3)])
torch.manual_seed(0)
seen = sorted(int(y) for _, ys in DataLoader(tds, batch_size=2, shuffle=True) for y in ys)
print("shuffle covers all:", seen == list(range(6)))
print("numpy arrays collate:", DataLoader([np.ones(2, dtype=np.float32)] * 3, batch_size=3).__iter__().__next__().dtype)
