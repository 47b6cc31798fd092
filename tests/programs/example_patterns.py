"""Patterns from pytorch/examples that once stopped or misled ember (docs/differences.md, "Public example
programs"): a backbone whose first conv is swapped and whose head is cut off with
Sequential(*children()[:-1]); BCELoss on a sigmoid that saturates to exactly 0/1 under Adadelta(lr=1)
on raw 0-255 pixels; the forward-forward label overlay x[range(n), y] = x.max(); style batches built
with repeat() and normalised in place; a whole model saved and loaded under serialization.safe_globals;
Hogwild training of a model in shared memory by worker processes."""
# compare: rtol=2e-3, atol=1e-4
import numpy as np
import torch
import torch.multiprocessing as mp
import torch.nn as nn
import torch.optim as optim

from _common import same_init


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(4, 10)


class Twin(nn.Module):
    def __init__(self):
        super().__init__()
        backbone = Backbone()
        backbone.conv1 = nn.Conv2d(1, 4, 3)  # grey-scale input: swap the first layer in place
        self.features = nn.Sequential(*list(backbone.children())[:-1])
        self.head = nn.Sequential(nn.Linear(8, 8), nn.ReLU(inplace=True), nn.Linear(8, 1))
        self.sigmoid = nn.Sigmoid()

    def forward(self, a, b):
        fa = self.features(a).flatten(1)
        fb = self.features(b).flatten(1)
        return self.sigmoid(self.head(torch.cat((fa, fb), 1)))


def siamese():
    rng = np.random.default_rng(0)
    a = torch.tensor(rng.integers(0, 256, (8, 1, 6, 6)).astype(np.float32))
    b = torch.tensor(rng.integers(0, 256, (8, 1, 6, 6)).astype(np.float32))
    y = torch.tensor([1.0, 0.0] * 4)
    model = Twin()
    same_init(model, seed=1)
    with torch.no_grad():
        model.head[2].weight.mul_(400.0)  # logits far past float32's sigmoid range: outputs exactly 0 or 1
    print("first layer:", type(model.features[0]).__name__, model.features[0].in_channels)
    opt = optim.Adadelta(model.parameters(), lr=1.0)
    crit = nn.BCELoss()
    for step in range(6):
        opt.zero_grad()
        out = model(a, b).squeeze()
        loss = crit(out, y)
        loss.backward()
        opt.step()
        finite = all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
        print(f"siamese step {step} loss {loss.item():.4f} saturated {int(((out == 0) | (out == 1)).sum())} "
              f"grads finite {finite}")


def overlay():
    x = torch.arange(12.0).view(3, 4) / 10
    y = torch.tensor([2, 0, 3])
    x_ = x.clone()
    x_[:, :2] *= 0.0
    x_[range(x.shape[0]), y] = x.max()
    print("overlay", x_.tolist())


def style_batch():
    style = torch.arange(12.0).view(3, 2, 2) * 20
    batch = style.repeat(2, 1, 1, 1)
    batch = batch.div_(255.0)
    mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
    print("style source unchanged", style[0, 0].tolist(), "batch", ((batch - mean) / std).sum().item())


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 4)
        self.rnn = nn.LSTM(4, 4)
        self.out = nn.Linear(4, 7)

    def forward(self, x):
        h, _ = self.rnn(self.emb(x))
        return self.out(h)


def whole_model_checkpoint():
    model = LM()
    same_init(model, seed=2)
    torch.save(model, "model.pt")
    allow = [LM, nn.modules.sparse.Embedding, nn.modules.rnn.LSTM, nn.modules.linear.Linear]
    with torch.serialization.safe_globals(allow):
        loaded = torch.load("model.pt")
    loaded.rnn.flatten_parameters()
    x = torch.tensor([[1, 2], [3, 4], [5, 6]])
    print("reloaded model output", loaded(x).sum().item(), "same", bool(torch.equal(loaded(x), model(x))))


def hogwild_worker(model, seed):
    g = torch.Generator().manual_seed(0)
    opt = optim.SGD(model.parameters(), lr=0.05)
    rng = np.random.default_rng(seed)
    for _ in range(10):
        x = torch.tensor(rng.normal(size=(16, 3)).astype(np.float32))
        t = x.sum(1, keepdim=True)
        opt.zero_grad()
        ((model(x) - t) ** 2).mean().backward()
        opt.step()
    del g


def hogwild():
    model = nn.Linear(3, 1)
    same_init(model, seed=3)
    model.share_memory()
    ctx = mp.get_context("fork")
    for rank in range(2):  # one after the other: the shared weights carry over, deterministically
        p = ctx.Process(target=hogwild_worker, args=(model, rank))
        p.start()
        p.join()
        print("worker", rank, "exit", p.exitcode)
    w = model.weight.detach()
    print("hogwild shared", model.weight.is_shared(), "weights", [round(v, 4) for v in w.view(-1).tolist()])


if __name__ == "__main__":
    siamese()
    overlay()
    style_batch()
    whole_model_checkpoint()
    hogwild()
