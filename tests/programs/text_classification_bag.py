"""Text classification tutorial style: a vocabulary built from a toy corpus, EmbeddingBag over
concatenated token ids with offsets, a collate function, SGD with gradient clipping and StepLR."""
# compare: rtol=2e-4, atol=2e-5
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from _common import same_init

rng = np.random.default_rng(7)
topics = {
    0: "ball goal team score match win player coach league season".split(),
    1: "market stock price trade bank profit share fund rate growth".split(),
    2: "planet star space orbit rocket moon launch galaxy solar telescope".split(),
}
filler = "the a of and to in on with for is".split()


def make_doc(label):
    n = int(rng.integers(4, 9))
    words = [topics[label][int(rng.integers(0, 10))] if rng.random() < 0.6 else filler[int(rng.integers(0, 10))]
             for _ in range(n)]
    return label, " ".join(words)


train_iter = [make_doc(int(rng.integers(0, 3))) for _ in range(120)]
test_iter = [make_doc(int(rng.integers(0, 3))) for _ in range(30)]

vocab = {"<unk>": 0}
for _, text in train_iter:
    for tok in text.split():
        vocab.setdefault(tok, len(vocab))


def text_pipeline(x):
    return [vocab.get(tok, 0) for tok in x.split()]


def collate_batch(batch):
    label_list, text_list, offsets = [], [], [0]
    for _label, _text in batch:
        label_list.append(_label)
        processed_text = torch.tensor(text_pipeline(_text), dtype=torch.int64)
        text_list.append(processed_text)
        offsets.append(processed_text.size(0))
    label_list = torch.tensor(label_list, dtype=torch.int64)
    offsets = torch.tensor(offsets[:-1]).cumsum(dim=0)
    text_list = torch.cat(text_list)
    return label_list, text_list, offsets


class TextClassificationModel(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_class):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean")
        self.fc = nn.Linear(embed_dim, num_class)

    def forward(self, text, offsets):
        embedded = self.embedding(text, offsets)
        return self.fc(embedded)


model = same_init(TextClassificationModel(len(vocab), 16, 3), seed=1, scale=0.5)
criterion = torch.nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=5.0)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.8)
train_dataloader = DataLoader(train_iter, batch_size=16, shuffle=False, collate_fn=collate_batch)
test_dataloader = DataLoader(test_iter, batch_size=16, shuffle=False, collate_fn=collate_batch)


def evaluate(dataloader):
    model.eval()
    total_acc, total_count = 0, 0
    with torch.no_grad():
        for label, text, offsets in dataloader:
            predicted_label = model(text, offsets)
            total_acc += (predicted_label.argmax(1) == label).sum().item()
            total_count += label.size(0)
    return total_acc / total_count


for epoch in range(1, 5):
    model.train()
    total_loss = 0.0
    for idx, (label, text, offsets) in enumerate(train_dataloader):
        optimizer.zero_grad()
        predicted_label = model(text, offsets)
        loss = criterion(predicted_label, label)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        total_loss += loss.item()
    scheduler.step()
    print(f"| epoch {epoch:3d} | loss {total_loss / len(train_dataloader):8.5f} | lr {scheduler.get_last_lr()[0]:.4f} "
          f"| test accuracy {evaluate(test_dataloader):8.3f}")

news = "the rocket will launch to orbit the moon"
with torch.no_grad():
    out = model(torch.tensor(text_pipeline(news)), torch.tensor([0]))
    print("predicted topic:", out.argmax(1).item(), "probs:", [round(p, 4) for p in out.softmax(1)[0].tolist()])
