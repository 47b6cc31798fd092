"""A character-level LSTM language model: Embedding + LSTM + Linear, truncated BPTT with detached
hidden state, clip_grad_norm_, then greedy and multinomial sampling."""

TEXT = (
    "the quick brown fox jumps over the lazy dog. "
    "a stitch in time saves nine. "
    "all that glitters is not gold. "
) * 4


class _Vocab:
    def __init__(self, text):
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    def encode(self, s):
        return [self.stoi[c] for c in s]

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


def char_lstm(torch, sync, steps=25, seq_len=16, batch_size=8):
    nn = torch.nn
    F = torch.nn.functional

    vocab = _Vocab(TEXT)
    data = torch.tensor(vocab.encode(TEXT), dtype=torch.long)

    class CharLM(nn.Module):
        def __init__(self, vocab_size, emb=16, hidden=32, layers=2):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, emb)
            self.lstm = nn.LSTM(emb, hidden, num_layers=layers, batch_first=True)
            self.head = nn.Linear(hidden, vocab_size)

        def forward(self, idx, state=None):
            h, state = self.lstm(self.embed(idx), state)
            return self.head(h), state

    model = CharLM(len(vocab.chars))
    sync("charlm", model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    # contiguous streams for truncated BPTT
    n = (len(data) - 1) // batch_size
    xs = data[: n * batch_size].view(batch_size, n)
    ys = data[1 : n * batch_size + 1].view(batch_size, -1)
    state = None
    losses, norms = [], []
    for step in range(steps):
        start = (step * seq_len) % (n - seq_len)
        x = xs[:, start : start + seq_len]
        y = ys[:, start : start + seq_len]
        if state is not None:
            state = tuple(s.detach() for s in state)
        if start == 0:
            state = None
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        opt.step()
        losses.append(loss.item())
        norms.append(float(norm))

    @torch.no_grad()
    def generate(prompt, n_chars, greedy, temperature=0.8):
        model.eval()
        idx = torch.tensor([vocab.encode(prompt)])
        logits, st = model(idx)
        out = []
        for _ in range(n_chars):
            probs = F.softmax(logits[:, -1, :] / temperature, dim=-1)
            if greedy:
                nxt = torch.argmax(probs, dim=-1, keepdim=True)
            else:
                nxt = torch.multinomial(probs, num_samples=1)
            out.append(nxt.item())
            logits, st = model(nxt, st)
        return vocab.decode(out)

    torch.manual_seed(0)
    sample = generate("the ", 20, greedy=False)
    greedy = generate("the ", 20, greedy=True)
    return {
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "mean_loss_last5": sum(losses[-5:]) / 5,
        "norms": norms,
        "greedy": greedy,
        "sample_len": len(sample),
        "sample_in_vocab": all(c in vocab.stoi for c in sample),
        "weight_checksum": sum(p.sum() for p in model.parameters()).item(),
    }
