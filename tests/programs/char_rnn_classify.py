"""Classifying names with a character-level RNN (the "NLP From Scratch" tutorial): a hand-written RNN cell."""
# compare: rtol=5e-4, atol=5e-5
import string

import torch
import torch.nn as nn

from _common import same_init

all_letters = string.ascii_letters + " .,;'"
n_letters = len(all_letters)
category_lines = {
    "English": ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans"],
    "Italian": ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano"],
    "Japanese": ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito"],
}
all_categories = list(category_lines)
n_categories = len(all_categories)


def letterToIndex(letter):
    return all_letters.find(letter)


def letterToTensor(letter):
    tensor = torch.zeros(1, n_letters)
    tensor[0][letterToIndex(letter)] = 1
    return tensor


def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


print(letterToTensor("J").nonzero().tolist(), lineToTensor("Jones").size())


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.h2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)
        output = self.h2o(combined)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


n_hidden = 32
rnn = same_init(RNN(n_letters, n_hidden, n_categories), scale=0.1)


def categoryFromOutput(output):
    top_n, top_i = output.topk(1)
    category_i = top_i[0].item()
    return all_categories[category_i], category_i


criterion = nn.NLLLoss()
learning_rate = 0.02


def train(category_tensor, line_tensor):
    hidden = rnn.initHidden()
    rnn.zero_grad()
    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)
    loss = criterion(output, category_tensor)
    loss.backward()
    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)
    return output, loss.item()


examples = [(c, line) for i in range(6) for c in all_categories for line in [category_lines[c][i]]]
current_loss = 0
for it in range(1, 5 * len(examples) + 1):
    category, line = examples[(it * 7) % len(examples)]
    category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
    output, loss = train(category_tensor, lineToTensor(line))
    current_loss += loss
    if it % 30 == 0:
        guess, guess_i = categoryFromOutput(output)
        print(f"{it} {loss:.4f} {line} / {guess} {'ok' if guess == category else 'wrong (' + category + ')'}")
print("average loss:", f"{current_loss / (5 * len(examples)):.4f}")


def predict(input_line, n_predictions=2):
    with torch.no_grad():
        hidden = rnn.initHidden()
        line_tensor = lineToTensor(input_line)
        for i in range(line_tensor.size()[0]):
            output, hidden = rnn(line_tensor[i], hidden)
        topv, topi = output.topk(n_predictions, 1, True)
        return [(f"{topv[0][i].item():.4f}", all_categories[topi[0][i].item()]) for i in range(n_predictions)]


for name in ["Dovesky", "Satoshi", "Jackson"]:
    print(name, predict(name))
