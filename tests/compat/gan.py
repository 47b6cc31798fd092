"""A GAN-style loop on 2-D data: two models, two optimizers, fake.detach() for the discriminator
step, BCEWithLogitsLoss with label tensors made by ones_like/zeros_like, requires_grad_(False)
freezing, and a parameter EMA updated in place under no_grad."""
import copy

import numpy as np


def tiny_gan(torch, sync, steps=40, batch=64, z_dim=4):
    nn = torch.nn
    rng = np.random.default_rng(7)

    G = nn.Sequential(nn.Linear(z_dim, 32), nn.LeakyReLU(0.2), nn.Linear(32, 2))
    D = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    sync("G", G)
    sync("D", D)
    G_ema = copy.deepcopy(G)
    for p in G_ema.parameters():
        p.requires_grad_(False)

    opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()

    d_losses, g_losses = [], []
    for _step in range(steps):
        angle = rng.uniform(0, 2 * np.pi, size=batch)
        real = torch.tensor(np.stack([np.cos(angle), np.sin(angle)], 1), dtype=torch.float32)
        z = torch.from_numpy(rng.normal(size=(batch, z_dim)).astype(np.float32))

        # discriminator step
        fake = G(z)
        d_real = D(real)
        d_fake = D(fake.detach())
        loss_d = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()

        # generator step (D frozen)
        for p in D.parameters():
            p.requires_grad = False
        loss_g = bce(D(fake), torch.ones(batch, 1))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        for p in D.parameters():
            p.requires_grad = True
        assert all(p.grad is None or p.grad.abs().sum() >= 0 for p in D.parameters())

        with torch.no_grad():
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.mul_(0.9).add_(p, alpha=0.1)
        d_losses.append(loss_d.item())
        g_losses.append(loss_g.item())

    with torch.no_grad():
        z = torch.from_numpy(rng.normal(size=(256, z_dim)).astype(np.float32))
        samples = G_ema(z)
        radius = samples.norm(dim=1)
    return {
        "d_losses": d_losses[::5],
        "g_losses": g_losses[::5],
        "radius_mean": radius.mean().item(),
        "radius_std": radius.std().item(),
        "ema_checksum": sum(float(p.sum()) for p in G_ema.parameters()),
        "d_grad_norm": torch.cat([p.grad.flatten() for p in D.parameters()]).norm().item(),
    }
