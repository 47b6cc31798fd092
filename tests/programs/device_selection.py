"""The device-selection idioms of current tutorials, on a CPU-only machine."""
import torch
import torch.nn as nn

device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")
print("cuda:", torch.cuda.is_available(), torch.cuda.device_count())
print("mps:", torch.backends.mps.is_available(), torch.backends.mps.is_built())
legacy = torch.device("cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu")
print("legacy idiom:", legacy, legacy.type)
print("accelerator count:", torch.accelerator.device_count(), torch.accelerator.current_accelerator())
torch.backends.cudnn.benchmark = True
torch.backends.cudnn.deterministic = True
print("cudnn available:", torch.backends.cudnn.is_available())
torch.cuda.manual_seed_all(0)
torch.cuda.empty_cache()
print("default device:", torch.get_default_device())
torch.set_default_device("cpu")


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(nn.Linear(4 * 4, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


model = NeuralNetwork().to(device)
print(model)
X = torch.ones(2, 4, 4, device=device)
logits = model(X)
pred_probab = nn.Softmax(dim=1)(logits)
print("logits:", tuple(logits.shape), logits.device, pred_probab.sum(dim=1).round().tolist())
print("param devices:", {str(p.device) for p in model.parameters()})
x = torch.tensor([1.0, 2.0]).to(device, non_blocking=True)
print("moved:", x.device.type, x.cpu().numpy().tolist(), x.is_cuda if hasattr(x, "is_cuda") else False)
