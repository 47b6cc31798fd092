"""Word embeddings tutorial style: skip-gram with negative sampling on a toy corpus (Embedding pairs,
bmm scores, logsigmoid loss, Adam), then nearest neighbours by cosine similarity."""
# compare: rtol=5e-4, atol=5e-5
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from _common import same_init

corpus = ("the king rules the land . the queen rules the land . a man walks to the city . "
          "a woman walks to the city . the king and the queen live in the castle . "
          "the man and the woman live in the village .").split()
vocab = sorted(set(corpus))
word_to_ix = {w: i for i, w in enumerate(vocab)}
window = 2
pairs = [(word_to_ix[corpus[i]], word_to_ix[corpus[j]])
         for i in range(len(corpus)) for j in range(max(0, i - window), min(len(corpus), i + window + 1)) if i != j]
rng = np.random.default_rng(0)
counts = np.bincount([word_to_ix[w] for w in corpus], minlength=len(vocab)).astype(np.float64)
noise = counts ** 0.75 / (counts ** 0.75).sum()
negatives = rng.choice(len(vocab), size=(len(pairs), 4), p=noise)


class SkipGram(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.in_embed = nn.Embedding(vocab_size, dim)
        self.out_embed = nn.Embedding(vocab_size, dim)

    def forward(self, center, context, negative):
        v = self.in_embed(center).unsqueeze(2)             # (B, D, 1)
        u_pos = self.out_embed(context).unsqueeze(1)       # (B, 1, D)
        u_neg = self.out_embed(negative)                   # (B, K, D)
        pos = torch.bmm(u_pos, v).squeeze()                # (B,)
        neg = torch.bmm(u_neg, v).squeeze(2)               # (B, K)
        return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(1)).mean()


model = same_init(SkipGram(len(vocab), 8), seed=3, scale=0.5)
optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
centers = torch.tensor([c for c, _ in pairs])
contexts = torch.tensor([o for _, o in pairs])
negs = torch.from_numpy(negatives)
batch = 32
for epoch in range(8):
    total = 0.0
    for start in range(0, len(pairs), batch):
        sl = slice(start, start + batch)
        loss = model(centers[sl], contexts[sl], negs[sl])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * centers[sl].numel()
    if epoch % 2 == 1:
        print(f"epoch {epoch}: loss {total / len(pairs):.5f}")

with torch.no_grad():
    emb = F.normalize(model.in_embed.weight, dim=1)
    sims = emb @ emb.T
    for w in ("king", "woman", "city"):
        i = word_to_ix[w]
        order = torch.argsort(sims[i], descending=True)
        near = [vocab[j] for j in order.tolist() if j != i][:3]
        print(f"{w}: {near} {round(sims[i, word_to_ix[near[0]]].item(), 4)}")
    print("embedding norm:", round(model.in_embed.weight.norm().item(), 4))
