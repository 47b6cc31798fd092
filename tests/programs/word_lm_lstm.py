"""A word-level language model in the style of pytorch/examples/word_language_model (LSTM, tied weights)."""
# compare: rtol=2e-4, atol=2e-5
import math

import numpy as np
import torch
import torch.nn as nn

from _common import same_init


class Dictionary(object):
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self):
        return len(self.idx2word)


class Corpus(object):
    def __init__(self, lines):
        self.dictionary = Dictionary()
        self.train = self.tokenize(lines[:-4])
        self.valid = self.tokenize(lines[-4:])

    def tokenize(self, lines):
        idss = []
        for line in lines:
            words = line.split() + ["<eos>"]
            idss.append(torch.tensor([self.dictionary.add_word(w) for w in words]).type(torch.int64))
        return torch.cat(idss)


rng = np.random.default_rng(0)
words = "the cat sat on a mat while dog ran to park and bird sang in tree".split()
lines = [" ".join(rng.choice(words, size=rng.integers(4, 9))) for _ in range(40)]
corpus = Corpus(lines)
print("vocab:", len(corpus.dictionary), "train tokens:", corpus.train.size(0))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    data = data.view(bsz, -1).t().contiguous()
    return data


class RNNModel(nn.Module):
    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.0, tie_weights=False):
        super(RNNModel, self).__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return nn.functional.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


bptt = 8


def get_batch(source, i):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


device = torch.device("cpu")
train_data = batchify(corpus.train, 4).to(device)
val_data = batchify(corpus.valid, 2).to(device)
ntokens = len(corpus.dictionary)
model = RNNModel("LSTM", ntokens, 16, 16, 2, dropout=0.0, tie_weights=True).to(device)
same_init(model, scale=0.1)
print("tied:", model.decoder.weight is model.encoder.weight, "params:", sum(p.numel() for p in model.parameters()))
criterion = nn.NLLLoss()
lr = 5.0


def evaluate(data_source, bsz):
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(bsz)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


for epoch in range(1, 4):
    model.train()
    total_loss = 0.0
    hidden = model.init_hidden(4)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
        data, targets = get_batch(train_data, i)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        total_loss += loss.item()
    val_loss = evaluate(val_data, 2)
    print(f"| epoch {epoch:3d} | train loss {total_loss / (batch + 1):5.3f} | valid loss {val_loss:5.3f} | "
          f"valid ppl {math.exp(val_loss):8.3f}")

with open("model.pt", "wb") as f:
    torch.save(model.state_dict(), f)
model2 = RNNModel("LSTM", ntokens, 16, 16, 2, tie_weights=True)
with open("model.pt", "rb") as f:
    model2.load_state_dict(torch.load(f))
model = model2
print("reloaded valid loss:", f"{evaluate(val_data, 2):5.3f}")

hidden = model.init_hidden(1)
inp = torch.tensor([[corpus.dictionary.word2idx["the"]]])
generated = []
with torch.no_grad():
    for _ in range(8):
        output, hidden = model(inp, hidden)
        word_idx = output.squeeze().argmax().item()
        inp.fill_(word_idx)
        generated.append(corpus.dictionary.idx2word[word_idx])
print("greedy:", " ".join(generated))
