"""Signal-processing tutorial style with torch.fft: low-pass filtering a noisy signal in the frequency
domain, log-magnitude spectrum features for a small tone classifier, a learnable complex spectral filter
trained to denoise, and an STFT of a chirp."""
# compare: rtol=5e-4, atol=5e-5
import math

import numpy as np
import torch
import torch.nn as nn

from _common import same_init

rng = np.random.default_rng(3)
n = 128
t = torch.arange(n, dtype=torch.float32) / n

# 1. low-pass filtering: keep the bins below a cutoff, transform back
clean = torch.sin(2 * math.pi * 3 * t) + 0.5 * torch.sin(2 * math.pi * 7 * t)
noisy = clean + torch.tensor(rng.normal(0, 0.4, n), dtype=torch.float32)
spectrum = torch.fft.rfft(noisy)
freqs = torch.fft.rfftfreq(n, d=1.0 / n)
filtered = torch.fft.irfft(spectrum * (freqs <= 10), n=n)
print("spectrum:", spectrum.shape, spectrum.dtype, "peak bins:", spectrum.abs().topk(2).indices.tolist())
print(f"noisy mse {((noisy - clean) ** 2).mean().item():.5f} filtered mse {((filtered - clean) ** 2).mean().item():.5f}")
print("energy (Parseval):", round((noisy ** 2).sum().item(), 3), round((torch.fft.fft(noisy).abs() ** 2).sum().item() / n, 3))


# 2. FFT features for a tone classifier
def make_batch(size):
    labels = rng.integers(0, 3, size)
    base = np.array([4.0, 9.0, 15.0])[labels] + rng.uniform(-0.5, 0.5, size)
    phase = rng.uniform(0, 2 * math.pi, size)
    x = np.sin(2 * math.pi * base[:, None] * t.numpy()[None] + phase[:, None]) + rng.normal(0, 0.3, (size, n))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(labels)


class SpectralClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n // 2 + 1, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        feats = torch.log1p(torch.fft.rfft(x, norm="ortho").abs())
        return self.net(feats)


model = same_init(SpectralClassifier(), seed=1)
opt = torch.optim.Adam(model.parameters(), lr=0.01)
xs, ys = make_batch(96)
for step in range(8):
    logits = model(xs)
    loss = nn.functional.cross_entropy(logits, ys)
    opt.zero_grad()
    loss.backward()
    opt.step()
    acc = (logits.argmax(1) == ys).float().mean().item()
    print(f"step {step}: loss {loss.item():.5f} acc {acc:.3f}")

# 3. a learnable complex filter H (real and imaginary parts as parameters) trained to denoise
h_re = nn.Parameter(torch.ones(n // 2 + 1) * 0.5)
h_im = nn.Parameter(torch.zeros(n // 2 + 1))
opt = torch.optim.SGD([h_re, h_im], lr=0.05)
for step in range(6):
    H = torch.complex(h_re, h_im)
    out = torch.fft.irfft(torch.fft.rfft(noisy) * H, n=n)
    loss = ((out - clean) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(f"filter step {step}: mse {loss.item():.5f} |grad| {h_re.grad.norm().item():.5f} {h_im.grad.norm().item():.5f}")
print("filter gain at bins 3, 7, 30:", [round(v, 4) for v in torch.complex(h_re, h_im).abs()[[3, 7, 30]].tolist()])

# 4. STFT of a chirp: the dominant bin rises frame by frame
chirp = torch.sin(2 * math.pi * (5 + 20 * t) * t * 4)
spec = torch.stft(chirp, n_fft=32, hop_length=16, window=torch.hann_window(32), return_complex=True)
print("stft:", tuple(spec.shape), spec.dtype, "dominant bins:", spec.abs().argmax(0).tolist())
recon = torch.istft(spec, n_fft=32, hop_length=16, window=torch.hann_window(32), length=n)
print("istft reconstructs the chirp:", (recon - chirp).abs().max().item() < 1e-5)
