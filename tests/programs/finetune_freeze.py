"""Fine-tuning: freeze a pretrained backbone, replace the head, per-group learning rates, then unfreeze."""
# compare: rtol=2e-4, atol=2e-5
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.optim import lr_scheduler

from _common import same_init


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d((2, 2)))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


rng = np.random.default_rng(5)
x = torch.from_numpy(rng.normal(size=(24, 1, 6, 6)).astype(np.float32))
y = torch.from_numpy((rng.random(24) > 0.5).astype(np.int64))

model_ft = same_init(Backbone())
for param in model_ft.parameters():
    param.requires_grad = False
num_ftrs = model_ft.fc.in_features
model_ft.fc = nn.Linear(num_ftrs, 2)
same_init(model_ft.fc, seed=9)
print("trainable:", [n for n, p in model_ft.named_parameters() if p.requires_grad])
criterion = nn.CrossEntropyLoss()
optimizer_ft = optim.SGD(filter(lambda p: p.requires_grad, model_ft.parameters()), lr=0.05, momentum=0.9)
exp_lr_scheduler = lr_scheduler.StepLR(optimizer_ft, step_size=3, gamma=0.1)
best_model_wts = copy.deepcopy(model_ft.state_dict())
best_acc = 0.0
for epoch in range(5):
    for phase in ["train", "val"]:
        if phase == "train":
            model_ft.train()
        else:
            model_ft.eval()
        xb, yb = (x[:16], y[:16]) if phase == "train" else (x[16:], y[16:])
        optimizer_ft.zero_grad()
        with torch.set_grad_enabled(phase == "train"):
            outputs = model_ft(xb)
            _, preds = torch.max(outputs, 1)
            loss = criterion(outputs, yb)
            if phase == "train":
                loss.backward()
                optimizer_ft.step()
        running_corrects = torch.sum(preds == yb.data)
        epoch_acc = running_corrects.double() / len(yb)
        if phase == "train":
            exp_lr_scheduler.step()
        print(f"epoch {epoch} {phase} Loss: {loss.item():.4f} Acc: {epoch_acc.item():.4f}")
        if phase == "val" and epoch_acc > best_acc:
            best_acc = epoch_acc
            best_model_wts = copy.deepcopy(model_ft.state_dict())
model_ft.load_state_dict(best_model_wts)
print("best acc:", f"{float(best_acc):.4f}", "bn running mean:", [f"{v:.4f}" for v in model_ft.features[1].running_mean.tolist()])

for p in model_ft.parameters():
    p.requires_grad_(True)
optimizer = optim.Adam([
    {"params": model_ft.features.parameters(), "lr": 1e-4},
    {"params": model_ft.fc.parameters()},
], lr=1e-2, weight_decay=1e-4)
model_ft.train()
for step in range(4):
    optimizer.zero_grad()
    loss = criterion(model_ft(x), y)
    loss.backward()
    nn.utils.clip_grad_value_(model_ft.parameters(), 1.0)
    optimizer.step()
print("unfrozen loss:", f"{loss.item():.5f}", "groups:", [g["lr"] for g in optimizer.param_groups])
