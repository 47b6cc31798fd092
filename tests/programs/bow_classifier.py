"""Bag-of-words logistic regression (the NLP tutorial's first classifier): word_to_ix, vectors, NLLLoss, SGD."""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

from _common import same_init

torch.manual_seed(1)

data = [("me gusta comer en la cafeteria".split(), "SPANISH"),
        ("Give it to me".split(), "ENGLISH"),
        ("No creo que sea una buena idea".split(), "SPANISH"),
        ("No it is not a good idea to get lost at sea".split(), "ENGLISH")]
test_data = [("Yo creo que si".split(), "SPANISH"),
             ("it is lost on me".split(), "ENGLISH")]

word_to_ix = {}
for sent, _ in data + test_data:
    for word in sent:
        if word not in word_to_ix:
            word_to_ix[word] = len(word_to_ix)
print("vocabulary:", len(word_to_ix))

VOCAB_SIZE = len(word_to_ix)
NUM_LABELS = 2


class BoWClassifier(nn.Module):
    def __init__(self, num_labels, vocab_size):
        super(BoWClassifier, self).__init__()
        self.linear = nn.Linear(vocab_size, num_labels)

    def forward(self, bow_vec):
        return F.log_softmax(self.linear(bow_vec), dim=1)


def make_bow_vector(sentence, word_to_ix):
    vec = torch.zeros(len(word_to_ix))
    for word in sentence:
        vec[word_to_ix[word]] += 1
    return vec.view(1, -1)


def make_target(label, label_to_ix):
    return torch.LongTensor([label_to_ix[label]])


model = BoWClassifier(NUM_LABELS, VOCAB_SIZE)
same_init(model)
for name, param in model.named_parameters():
    print(name, tuple(param.shape))

label_to_ix = {"SPANISH": 0, "ENGLISH": 1}

with torch.no_grad():
    for instance, label in test_data:
        log_probs = model(make_bow_vector(instance, word_to_ix))
        print("before:", [f"{v:.5f}" for v in log_probs[0].tolist()])
print("creo before:", f"{next(model.parameters())[:, word_to_ix['creo']].tolist()[0]:.5f}")

loss_function = nn.NLLLoss()
optimizer = optim.SGD(model.parameters(), lr=0.1)
for epoch in range(100):
    for instance, label in data:
        model.zero_grad()
        bow_vec = make_bow_vector(instance, word_to_ix)
        target = make_target(label, label_to_ix)
        log_probs = model(bow_vec)
        loss = loss_function(log_probs, target)
        loss.backward()
        optimizer.step()
    if epoch % 25 == 0:
        print("epoch", epoch, f"{loss.item():.5f}")

with torch.no_grad():
    for instance, label in test_data:
        log_probs = model(make_bow_vector(instance, word_to_ix))
        print("after:", [f"{v:.5f}" for v in log_probs[0].tolist()], "predicted", log_probs.argmax(dim=1).item())
print("creo after:", f"{next(model.parameters())[:, word_to_ix['creo']].tolist()[0]:.5f}")
