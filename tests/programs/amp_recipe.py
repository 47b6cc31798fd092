"""PyTorch AMP recipe style: a network trained in default precision, then with torch.autocast + GradScaler
(with the recipe's `enabled=use_amp` switch), gradient clipping on unscaled gradients, a scaler checkpoint,
and a custom autograd Function with custom_fwd/custom_bwd -- on the CPU, in float16."""
# compare: rtol=2e-2, atol=2e-3
import numpy as np
import torch

from _common import same_init

device = "cuda" if torch.cuda.is_available() else "cpu"
print("device:", device)

rng = np.random.default_rng(0)
in_size, out_size, num_layers, batch = 64, 8, 3, 32
data = [torch.tensor(rng.standard_normal((batch, in_size)), dtype=torch.float32) for _ in range(4)]
targets = [torch.tensor(rng.standard_normal((batch, out_size)), dtype=torch.float32) for _ in range(4)]
loss_fn = torch.nn.MSELoss()


def make_model():
    layers = []
    for _ in range(num_layers - 1):
        layers.append(torch.nn.Linear(in_size, in_size))
        layers.append(torch.nn.ReLU())
    layers.append(torch.nn.Linear(in_size, out_size))
    return same_init(torch.nn.Sequential(*layers).to(device))


# 1. The recipe's script written for a GPU, with AMP switched off: every AMP call is a pass-through.
use_amp = False
net = make_model()
opt = torch.optim.SGD(net.parameters(), lr=0.01)
scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
for epoch in range(3):
    for x, y in zip(data, targets):
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
            output = net(x)
            loss = loss_fn(output, y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
    print(f"default precision epoch {epoch}: loss {loss.item():.5f} dtype {output.dtype}")
print("scaler enabled:", scaler.is_enabled(), "scale:", scaler.get_scale())
with torch.cpu.amp.autocast(enabled=False):  # the deprecated alias older scripts use
    print("torch.cpu.amp region enabled:", torch.is_autocast_enabled("cpu"))

# 2. Mixed precision on the CPU in float16, with a large initial scale so the first steps overflow and are
#    skipped, unscale_ + clip_grad_norm_ on the unscaled gradients.
use_amp = True
net = make_model()
opt = torch.optim.SGD(net.parameters(), lr=0.01)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 24, growth_interval=4, enabled=use_amp)
skipped = 0
for epoch in range(4):
    for x, y in zip(data, targets):
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=use_amp):
            output = net(x)
            assert output.dtype is torch.float16
            loss = loss_fn(output, y)
            assert loss.dtype is torch.float32
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
        before = scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        skipped += scaler.get_scale() < before
        opt.zero_grad(set_to_none=True)
    print(f"amp epoch {epoch}: loss {loss.item():.5f} scale {scaler.get_scale():.0f} skipped so far {skipped}")
print("weight grad dtype after backward:", [p.dtype for p in net.parameters()][0])

checkpoint = {"model": net.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict()}
print("scaler state:", sorted(checkpoint["scaler"].items()))
resumed = torch.amp.GradScaler("cpu")
resumed.load_state_dict(checkpoint["scaler"])
print("resumed scale:", resumed.get_scale(), "growth interval:", resumed.get_growth_interval())

with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.float16):
    pred = net(data[0])
print("inference:", pred.dtype, f"{pred.float().abs().mean().item():.4f}")


# 3. A custom autograd Function under autocast: custom_fwd(cast_inputs=float32) runs it in float32.
class MyMM(torch.autograd.Function):
    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a.mm(b)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad.mm(b.t()), a.t().mm(grad)


a = torch.tensor(rng.standard_normal((4, 5)), dtype=torch.float32, requires_grad=True)
b = torch.tensor(rng.standard_normal((5, 3)), dtype=torch.float32, requires_grad=True)
with torch.autocast(device_type="cpu", dtype=torch.float16):
    h = torch.mm(a, b)
    out = MyMM.apply(h, b.t().mm(b))
print("custom function:", h.dtype, out.dtype)
out.sum().backward()
print(f"grads: {a.grad.dtype} {a.grad.abs().sum().item():.3f} {b.grad.dtype} {b.grad.abs().sum().item():.3f}")
