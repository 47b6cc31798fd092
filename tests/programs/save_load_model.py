"""Saving and loading models (the tutorial): state_dict, whole-model torch.save, weights_only, checkpoints."""
import pickle

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

from _common import same_init


class TheModelClass(nn.Module):
    def __init__(self):
        super(TheModelClass, self).__init__()
        self.conv1 = nn.Conv2d(1, 2, 3)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(2 * 3 * 3, 5)
        self.fc2 = nn.Linear(5, 3)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


model = same_init(TheModelClass())
optimizer = optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
x = torch.linspace(-1, 1, 2 * 64).view(2, 1, 8, 8)
model(x).sum().backward()
optimizer.step()

print("Model's state_dict:")
for param_tensor in model.state_dict():
    print(param_tensor, "\t", tuple(model.state_dict()[param_tensor].size()))
print("Optimizer's state_dict:")
for var_name in optimizer.state_dict():
    print(var_name, "\t", optimizer.state_dict()[var_name] if var_name == "param_groups" else
          sorted(optimizer.state_dict()[var_name].keys()))

PATH = "state_dict_model.pt"
torch.save(model.state_dict(), PATH)
model2 = TheModelClass()
print("load_state_dict:", model2.load_state_dict(torch.load(PATH, weights_only=True)))
model2.eval()
print("same output:", torch.allclose(model(x), model2(x)))

PATH = "entire_model.pt"
torch.save(model, PATH)
try:
    torch.load(PATH)
    print("loaded by default")
except pickle.UnpicklingError as e:
    print("default load refused:", "weights_only" in str(e))
model3 = torch.load(PATH, weights_only=False)
model3.eval()
print("entire model:", type(model3).__name__, torch.allclose(model(x), model3(x)))

torch.save({"epoch": 5, "model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
            "loss": 0.25}, "checkpoint.tar")
checkpoint = torch.load("checkpoint.tar", weights_only=True)
model4 = TheModelClass()
optimizer4 = optim.SGD(model4.parameters(), lr=0.001, momentum=0.9)
model4.load_state_dict(checkpoint["model_state_dict"])
optimizer4.load_state_dict(checkpoint["optimizer_state_dict"])
print("checkpoint:", checkpoint["epoch"], checkpoint["loss"], torch.allclose(model4(x), model(x)))
model4.train()
model4(x).sum().backward()
model(x).sum().backward()
optimizer4.step()
optimizer.step()
print("resumed step equal:", torch.allclose(model4.fc2.weight, model.fc2.weight))

missing = model2.load_state_dict({"fc1.weight": model.fc1.weight.detach()}, strict=False)
print("strict=False:", sorted(missing.missing_keys)[:2], missing.unexpected_keys)
