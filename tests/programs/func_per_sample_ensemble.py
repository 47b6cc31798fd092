"""torch.func: per-sample gradients (with a DP-SGD style clipped step), a vmapped ensemble of models
trained together, and forward-mode derivatives."""
# compare: rtol=2e-4, atol=2e-5
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, jacfwd, jacrev, jvp, stack_module_state, vmap

from _common import same_init

rng = np.random.default_rng(11)
images = torch.from_numpy(rng.normal(size=(16, 1, 6, 6)).astype(np.float32))
labels = torch.from_numpy(rng.integers(0, 3, size=16).astype(np.int64))


class TinyConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.flatten(F.relu(self.conv(x)), 1))


# ---- per-sample gradients -------------------------------------------------------------------
net = same_init(TinyConvNet(), seed=1)
params = {name: p.detach() for name, p in net.named_parameters()}
buffers = {name: b.detach() for name, b in net.named_buffers()}


def sample_loss(params, buffers, image, label):
    logits = functional_call(net, (params, buffers), (image.unsqueeze(0),))
    return F.cross_entropy(logits, label.unsqueeze(0))


per_sample = vmap(grad(sample_loss), in_dims=(None, None, 0, 0))(params, buffers, images, labels)
for name, g in per_sample.items():
    print("per-sample grad", name, tuple(g.shape), f"{g.abs().sum().item():.5f}")

# the same numbers, one backward at a time
worst = 0.0
for i in range(len(images)):
    net.zero_grad()
    F.cross_entropy(net(images[i:i + 1]), labels[i:i + 1]).backward()
    for name, p in net.named_parameters():
        worst = max(worst, (p.grad - per_sample[name][i]).abs().max().item())
print("loop agrees:", worst < 1e-5)

# a clipped, noised-free DP-SGD style step: clip every sample's gradient to norm 1, then average
max_norm = 1.0
for step in range(4):
    per_sample = vmap(grad(sample_loss), in_dims=(None, None, 0, 0))(params, buffers, images, labels)
    norms = torch.stack([g.reshape(len(images), -1).norm(dim=1) for g in per_sample.values()]).norm(dim=0)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    with torch.no_grad():
        for name in params:
            g = per_sample[name]
            clipped = (g * scale.view(-1, *([1] * (g.dim() - 1)))).mean(0)
            params[name] = params[name] - 0.5 * clipped
    loss = vmap(sample_loss, in_dims=(None, None, 0, 0))(params, buffers, images, labels).mean()
    print(f"dp step {step}: mean loss {loss.item():.5f}, clipped {int((norms > max_norm).sum().item())} of "
          f"{len(images)}, largest norm {norms.max().item():.4f}")

# ---- an ensemble of models, evaluated and trained with one vmap ------------------------------
features = torch.from_numpy(rng.normal(size=(20, 5)).astype(np.float32))
targets = torch.from_numpy((features[:, 0] > 0).long().numpy())


def make_mlp(seed):
    return same_init(nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2)), seed=seed)


members = [make_mlp(seed) for seed in range(4)]
ens_params, ens_buffers = stack_module_state(members)
template = copy.deepcopy(members[0])


def member_forward(params, buffers, x):
    return functional_call(template, (params, buffers), (x,))


same_minibatch = vmap(member_forward, in_dims=(0, 0, None))(ens_params, ens_buffers, features)
print("ensemble output", tuple(same_minibatch.shape))
print("member 2 agrees:", torch.allclose(same_minibatch[2], members[2](features), atol=1e-6))
chunks = features[:16].reshape(4, 4, 5)
own_minibatch = vmap(member_forward)(ens_params, ens_buffers, chunks)
print("own minibatches", tuple(own_minibatch.shape), f"{own_minibatch.sum().item():.5f}")

opt = torch.optim.Adam(ens_params.values(), lr=0.05)
for step in range(6):
    logits = vmap(member_forward, in_dims=(0, 0, None))(ens_params, ens_buffers, features)
    losses = torch.stack([F.cross_entropy(logits[m], targets) for m in range(len(members))])
    opt.zero_grad()
    losses.sum().backward()
    opt.step()
    print(f"ensemble step {step}:", " ".join(f"{v:.5f}" for v in losses.tolist()))
votes = vmap(member_forward, in_dims=(0, 0, None))(ens_params, ens_buffers, features).softmax(-1).mean(0)
print("ensemble accuracy", (votes.argmax(-1) == targets).float().mean().item())

# ---- forward mode: Jacobians both ways, and a Hessian-vector product ---------------------------
point = torch.tensor([0.3, -1.2, 0.8])


def field(v):
    return torch.stack([v[0] * v[1].sin(), (v ** 2).sum(), v.prod().tanh()])


print("jacfwd == jacrev:", torch.allclose(jacfwd(field)(point), jacrev(field)(point), atol=1e-6))
print("jacobian row 0", [round(x, 5) for x in jacfwd(field)(point)[0].tolist()])


def energy(v):
    return (v.sin() * v.roll(1)).sum()


_, hvp = jvp(grad(energy), (point,), (torch.tensor([1.0, 0.0, -1.0]),))
print("hvp", [round(x, 5) for x in hvp.tolist()])
print("per-point hessians", tuple(vmap(jacfwd(jacrev(energy)))(torch.stack([point, point * 2])).shape))
