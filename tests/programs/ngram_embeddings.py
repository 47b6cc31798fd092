"""An N-gram language model with word embeddings (the NLP tutorial's trigram model), plus CBOW-style contexts."""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

from _common import same_init

torch.manual_seed(1)
CONTEXT_SIZE = 2
EMBEDDING_DIM = 10
test_sentence = """When forty winters shall besiege thy brow,
And dig deep trenches in thy beauty's field,
Thy youth's proud livery so gazed on now,
Will be a totter'd weed of small worth held:
Then being asked, where all thy beauty lies,
Where all the treasure of thy lusty days;""".split()

ngrams = [([test_sentence[i - j - 1] for j in range(CONTEXT_SIZE)], test_sentence[i])
          for i in range(CONTEXT_SIZE, len(test_sentence))]
print("first ngrams:", ngrams[:2])
vocab = set(test_sentence)
word_to_ix = {word: i for i, word in enumerate(sorted(vocab))}


class NGramLanguageModeler(nn.Module):
    def __init__(self, vocab_size, embedding_dim, context_size):
        super(NGramLanguageModeler, self).__init__()
        self.embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.linear1 = nn.Linear(context_size * embedding_dim, 64)
        self.linear2 = nn.Linear(64, vocab_size)

    def forward(self, inputs):
        embeds = self.embeddings(inputs).view((1, -1))
        out = F.relu(self.linear1(embeds))
        out = self.linear2(out)
        log_probs = F.log_softmax(out, dim=1)
        return log_probs


losses = []
loss_function = nn.NLLLoss()
model = NGramLanguageModeler(len(vocab), EMBEDDING_DIM, CONTEXT_SIZE)
same_init(model)
optimizer = optim.SGD(model.parameters(), lr=0.01)

for epoch in range(4):
    total_loss = 0
    for context, target in ngrams:
        context_idxs = torch.tensor([word_to_ix[w] for w in context], dtype=torch.long)
        model.zero_grad()
        log_probs = model(context_idxs)
        loss = loss_function(log_probs, torch.tensor([word_to_ix[target]], dtype=torch.long))
        loss.backward()
        optimizer.step()
        total_loss += loss.item()
    losses.append(total_loss)
print("losses:", [f"{v:.4f}" for v in losses])
print("embedding of 'beauty':", [f"{v:.4f}" for v in model.embeddings.weight[word_to_ix["beauty"]].tolist()[:4]])

raw_text = "We are about to study the idea of a computational process".split()
data = []
for i in range(2, len(raw_text) - 2):
    context = [raw_text[i - 2], raw_text[i - 1], raw_text[i + 1], raw_text[i + 2]]
    data.append((context, raw_text[i]))
print("cbow example:", data[0])


class CBOW(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.out = nn.Linear(dim, vocab_size)

    def forward(self, idx):
        return F.log_softmax(self.out(self.emb(idx).sum(dim=0, keepdim=True)), dim=-1)


cbow_vocab = {w: i for i, w in enumerate(sorted(set(raw_text)))}
cbow = same_init(CBOW(len(cbow_vocab), 8), seed=3)
opt = optim.Adam(cbow.parameters(), lr=0.05)
for epoch in range(15):
    total = 0.0
    for context, target in data:
        opt.zero_grad()
        loss = F.nll_loss(cbow(torch.tensor([cbow_vocab[w] for w in context])), torch.tensor([cbow_vocab[target]]))
        loss.backward()
        opt.step()
        total += loss.item()
print("cbow final loss:", f"{total:.4f}")
