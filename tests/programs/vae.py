"""pytorch/examples vae style: a variational autoencoder; the reparameterization noise comes from a seeded stream."""
# compare: rtol=5e-4, atol=5e-5
import numpy as np
import torch
from torch import nn, optim
from torch.nn import functional as F

from _common import same_init

noise = np.random.default_rng(7)


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc21 = nn.Linear(32, 4)
        self.fc22 = nn.Linear(32, 4)
        self.fc3 = nn.Linear(4, 32)
        self.fc4 = nn.Linear(32, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.from_numpy(noise.standard_normal(tuple(std.shape)).astype(np.float32))
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 64))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction="sum")
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


rng = np.random.default_rng(0)
protos = rng.random((4, 64)) > 0.5
images = np.clip(protos[rng.integers(0, 4, 128)] * 0.9 + rng.random((128, 64)) * 0.1, 0, 1).astype(np.float32)
train_loader = torch.utils.data.DataLoader(torch.from_numpy(images).view(-1, 1, 8, 8), batch_size=32)

model = same_init(VAE())
optimizer = optim.Adam(model.parameters(), lr=1e-2)
for epoch in range(1, 4):
    model.train()
    train_loss = 0
    for batch_idx, data in enumerate(train_loader):
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    print("====> Epoch: {} Average loss: {:.4f}".format(epoch, train_loss / len(train_loader.dataset)))

model.eval()
with torch.no_grad():
    mu, logvar = model.encode(torch.from_numpy(images[:4]))
    recon = model.decode(mu)
    print("recon error:", f"{F.mse_loss(recon, torch.from_numpy(images[:4])).item():.5f}")
    sample = model.decode(torch.from_numpy(noise.standard_normal((2, 4)).astype(np.float32)))
    print("sample:", tuple(sample.view(2, 1, 8, 8).shape), f"{sample.mean().item():.5f}")
