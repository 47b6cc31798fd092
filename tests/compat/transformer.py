"""A tiny transformer encoder classifier: token + learned position embeddings, padding masks,
TransformerEncoder, masked mean pooling, AdamW with a LambdaLR warm-up, gradient clipping."""
import math

import numpy as np


def _batch(rng, n, max_len, vocab):
    # label: does token 1 appear in the (unpadded) sequence?
    lengths = rng.integers(4, max_len + 1, size=n)
    tokens = np.zeros((n, max_len), dtype=np.int64)
    labels = rng.integers(0, 2, size=n)
    for i, L in enumerate(lengths):
        seq = rng.integers(2, vocab, size=L)
        if labels[i]:
            seq[rng.integers(0, L)] = 1
        tokens[i, :L] = seq
    return tokens, lengths, labels


def tiny_transformer(torch, sync, steps=30):
    nn = torch.nn
    vocab, max_len, d_model = 12, 10, 32

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(vocab, d_model, padding_idx=0)
            self.pos = nn.Parameter(torch.zeros(1, max_len, d_model))
            layer = nn.TransformerEncoderLayer(
                d_model, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True, norm_first=True,
                activation="gelu",
            )
            self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, 2)

        def forward(self, tokens, pad_mask):
            x = self.tok(tokens) * math.sqrt(d_model) + self.pos[:, : tokens.size(1)]
            x = self.encoder(x, src_key_padding_mask=pad_mask)
            keep = (~pad_mask).unsqueeze(-1).type_as(x)
            pooled = (self.norm(x) * keep).sum(1) / keep.sum(1).clamp(min=1.0)
            return self.head(pooled)

    model = Classifier()
    sync("transformer", model)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = 5
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    rng = np.random.default_rng(3)
    losses = []
    for _step in range(steps):
        tokens, lengths, labels = _batch(rng, 32, max_len, vocab)
        tokens = torch.as_tensor(tokens)
        lengths = torch.as_tensor(lengths)
        pad_mask = torch.arange(max_len)[None, :] >= lengths[:, None]
        logits = model(tokens, pad_mask)
        loss = nn.functional.cross_entropy(logits, torch.as_tensor(labels))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(round(loss.item(), 6))

    model.eval()
    tokens, lengths, labels = _batch(rng, 64, max_len, vocab)
    tokens, lengths, labels = map(torch.from_numpy, (tokens, lengths, labels))
    pad_mask = torch.arange(max_len).expand(len(lengths), max_len) >= lengths.unsqueeze(1)
    with torch.inference_mode():
        logits = model(tokens, pad_mask)
        # what sits under the padding must not matter
        noisy = tokens.masked_fill(pad_mask, 5)
        same = torch.allclose(model(noisy, pad_mask), logits, atol=1e-5)
    # causal mask for the same encoder, used as a language-model would
    causal = nn.Transformer.generate_square_subsequent_mask(max_len)
    causal_bool = torch.triu(torch.ones(max_len, max_len, dtype=torch.bool), diagonal=1)
    with torch.no_grad():
        h = model.encoder(model.tok(tokens), mask=causal_bool, src_key_padding_mask=pad_mask)
    return {
        "losses": losses,
        "eval_acc": (logits.argmax(-1) == labels).float().mean().item(),
        "eval_logit_sum": logits.sum().item(),
        "padding_invariant": bool(same),
        "causal_h_abs_mean": h[~pad_mask].abs().mean().item(),
        "causal_mask_inf": bool(torch.equal(torch.isinf(causal), causal_bool)),
        "lr": sched.get_last_lr(),
    }
