"""Custom autograd.Function (straight-through quantiser and a hand-written Swish), tensor hooks,
module forward/backward hooks, retain_grad, autograd.grad with create_graph (a gradient penalty),
gradcheck in float64."""


def custom_autograd(torch, sync):
    nn = torch.nn

    class RoundSTE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.scale = scale
            return torch.round(x * scale) / scale

        @staticmethod
        def backward(ctx, grad_out):
            return grad_out, None

    class Swish(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, beta):
            s = torch.sigmoid(beta * x)
            ctx.save_for_backward(x, s, beta)
            return x * s

        @staticmethod
        def backward(ctx, g):
            x, s, beta = ctx.saved_tensors
            gx = g * (s + beta * x * s * (1 - s)) if ctx.needs_input_grad[0] else None
            gb = (g * x * x * s * (1 - s)).sum().reshape(beta.shape) if ctx.needs_input_grad[1] else None
            return gx, gb

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 16)
            self.beta = nn.Parameter(torch.ones(1))
            self.fc2 = nn.Linear(16, 3)

        def forward(self, x):
            h = Swish.apply(self.fc1(x), self.beta)
            h = RoundSTE.apply(h, 8.0)
            return self.fc2(h)

    model = Block()
    sync("block", model)

    acts, grads_seen = {}, []

    def save_act(module, inputs, output):
        acts[type(module).__name__] = output.detach()

    def grad_hook(module, grad_input, grad_output):
        grads_seen.append(grad_output[0].abs().sum().item())

    h1 = model.fc1.register_forward_hook(save_act)
    h2 = model.fc2.register_full_backward_hook(grad_hook)

    x = torch.linspace(-2, 2, 24).reshape(4, 6)
    x.requires_grad_(True)
    target = torch.tensor([0, 2, 1, 2])
    out = model(x)
    out.retain_grad()
    scaled = []
    x.register_hook(lambda g: scaled.append(g.clone()) or g * 2)
    loss = nn.functional.cross_entropy(out, target)
    loss.backward()
    h1.remove()
    h2.remove()
    model(x)  # hooks removed: no new entries

    # gradient penalty (WGAN-GP style): needs the graph of the gradient
    inp = x.detach().clone().requires_grad_()
    score = model(inp).logsumexp(dim=1).sum()
    (g,) = torch.autograd.grad(score, inp, create_graph=True)
    penalty = ((g.norm(2, dim=1) - 1) ** 2).mean()
    model.zero_grad()
    penalty.backward()

    # gradcheck of the custom Function in float64
    xd = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    bd = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    ok = torch.autograd.gradcheck(Swish.apply, (xd, bd), eps=1e-6, atol=1e-4)

    return {
        "loss": loss.item(),
        "x_grad": x.grad.sum().item(),
        "x_grad_hooked_ratio": (x.grad / scaled[0]).mean().item(),
        "out_grad": out.grad.abs().sum().item(),
        "beta_grad_after_penalty": model.beta.grad.item(),
        "fc1_grad_after_penalty": model.fc1.weight.grad.abs().sum().item(),
        "penalty": penalty.item(),
        "n_acts": len(acts),
        "act_shape": list(next(iter(acts.values())).shape),
        "grads_seen": grads_seen,
        "gradcheck": bool(ok),
        "grad_fn_is_set": out.grad_fn is not None,
    }
