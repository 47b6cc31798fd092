"""A Transformer language model (pytorch/examples word_language_model's TransformerModel style)."""
# compare: rtol=1e-3, atol=1e-4
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from _common import same_init


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super(PositionalEncoding, self).__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x + self.pe[:x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Module):
    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.0):
        super(TransformerModel, self).__init__()
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        encoder_layers = nn.TransformerEncoderLayer(ninp, nhead, nhid, dropout)
        self.transformer_encoder = nn.TransformerEncoder(encoder_layers, nlayers, enable_nested_tensor=False)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)

    def _generate_square_subsequent_mask(self, sz):
        return torch.log(torch.tril(torch.ones(sz, sz)))

    def forward(self, src, has_mask=True):
        if has_mask:
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                self.src_mask = self._generate_square_subsequent_mask(len(src))
        else:
            self.src_mask = None
        src = self.encoder(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.transformer_encoder(src, self.src_mask)
        output = self.decoder(output)
        return F.log_softmax(output, dim=-1)


rng = np.random.default_rng(1)
ntokens = 12
# a sequence with structure: each token is (previous + 1) mod 12 most of the time
seq = [0]
for _ in range(400):
    seq.append((seq[-1] + 1) % ntokens if rng.random() < 0.9 else int(rng.integers(ntokens)))
data = torch.tensor(seq[:400]).view(8, -1).t().contiguous()
print("data:", tuple(data.shape))

model = TransformerModel(ntokens, 16, 2, 32, 2)
same_init(model, scale=0.2)
mask = model._generate_square_subsequent_mask(4)
print("mask:", mask.tolist())
criterion = nn.NLLLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.95)
bptt = 10
for epoch in range(3):
    model.train()
    total = 0.0
    n = 0
    for i in range(0, data.size(0) - 1, bptt):
        seq_len = min(bptt, data.size(0) - 1 - i)
        inputs, targets = data[i:i + seq_len], data[i + 1:i + 1 + seq_len].reshape(-1)
        optimizer.zero_grad()
        output = model(inputs)
        loss = criterion(output.view(-1, ntokens), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        total += loss.item()
        n += 1
    scheduler.step()
    print(f"epoch {epoch} loss {total / n:.4f} lr {scheduler.get_last_lr()[0]:.6f}")

model.eval()
with torch.no_grad():
    out = model(torch.tensor([[3], [4], [5], [6]]))
    print("next after 3 4 5 6:", out[-1, 0].argmax().item(), f"{out[-1, 0].max().exp().item():.4f}")
    acc = (model(data[:-1]).argmax(-1) == data[1:]).float().mean().item()
print("accuracy:", f"{acc:.4f}")
