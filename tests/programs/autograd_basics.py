"""Autograd: a one-layer network, gradients, no_grad, detach, accumulation, vector-Jacobian products."""
import torch

x = torch.ones(5)
y = torch.zeros(3)
w = torch.tensor([[0.1 * (i - j) for j in range(3)] for i in range(5)], requires_grad=True)
b = torch.tensor([0.3, -0.2, 0.1], requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print("loss:", f"{loss.item():.6f}")
print("grad_fn set:", z.grad_fn is not None, loss.grad_fn is not None)
loss.backward()
print("w.grad:", [[round(v, 6) for v in row] for row in w.grad.tolist()])
print("b.grad:", [round(v, 6) for v in b.grad.tolist()])

z = torch.matmul(x, w) + b
print("requires_grad:", z.requires_grad)
with torch.no_grad():
    z = torch.matmul(x, w) + b
print("under no_grad:", z.requires_grad)
z_det = (torch.matmul(x, w) + b).detach()
print("detached:", z_det.requires_grad)

inp = torch.eye(4, 5, requires_grad=True)
out = (inp + 1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print("first call:", inp.grad.tolist())
out.backward(torch.ones_like(out))
print("second call (accumulated):", inp.grad.tolist())
inp.grad.zero_()
out = (inp + 1).pow(2).t()
out.backward(torch.ones_like(out))
print("after zero_:", inp.grad.tolist())

a = torch.tensor([2.0, 3.0], requires_grad=True)
b = torch.tensor([6.0, 4.0], requires_grad=True)
Q = 3 * a ** 3 - b ** 2
Q.backward(gradient=torch.tensor([1.0, 1.0]))
print("dQ/da:", a.grad.tolist(), "dQ/db:", b.grad.tolist(), (9 * a ** 2 == a.grad).tolist())

x = torch.tensor(2.0, requires_grad=True)
y = x ** 3
(g,) = torch.autograd.grad(y, x, create_graph=True)
(g2,) = torch.autograd.grad(g, x)
print("first/second derivative:", g.item(), g2.item())
print("is_leaf:", x.is_leaf, y.is_leaf, "requires_grad_:", torch.zeros(2).requires_grad_().requires_grad)
with torch.enable_grad():
    print("grad enabled:", torch.is_grad_enabled())
torch.set_grad_enabled(False)
print("grad disabled:", torch.is_grad_enabled())
torch.set_grad_enabled(True)
