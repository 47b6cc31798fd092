"""Tensor-API tour written with keyword arguments and preallocated outputs, the way API docs and
numerical code call torch: ``torch.matmul(input=..., other=...)``, ``out=`` buffers reused across an
iterative solver, ``torch.randn(size=...)``, ``dtype=``/``device=`` on factories."""
import torch

torch.manual_seed(0)
device = "cpu"
A = torch.tensor([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]], dtype=torch.float64, device=device)
b = torch.ones(size=(3,), dtype=torch.float64)

# Jacobi iterations with buffers reused through out=
x = torch.zeros(3, dtype=torch.float64)
D = torch.diag(input=A)
R = A - torch.diag(input=D)
Rx = torch.empty(3, dtype=torch.float64)
for it in range(25):
    torch.matmul(input=R, other=x, out=Rx)
    torch.sub(input=b, other=Rx, out=x)
    torch.div(input=x, other=D, out=x)
residual = torch.linalg.norm(input=torch.matmul(A, x) - b, ord=2)
print("jacobi solution:", [round(v, 8) for v in x.tolist()], "residual:", float(residual) < 1e-6)

# reductions and comparisons by keyword
m = torch.arange(start=0, end=12, step=1, dtype=torch.float32).reshape(shape=(3, 4))
print("sum:", torch.sum(input=m, dim=1, keepdim=True).flatten().tolist())
print("mean:", torch.mean(input=m, dim=0).tolist())
print("max/argmax:", torch.max(input=m, dim=1).values.tolist(), torch.argmax(input=m, dim=0).tolist())
print("std:", [round(v, 5) for v in torch.std(m, dim=1, unbiased=False).tolist()])
print("clamp:", torch.clamp(input=m, min=2.0, max=9.0)[0].tolist())
print("where:", torch.where(condition=m > 5, input=m, other=torch.zeros_like(input=m))[1].tolist())
print("cat/stack:", tuple(torch.cat(tensors=[m, m], dim=0).shape), tuple(torch.stack(tensors=[m, m], dim=1).shape))
print("transpose/permute:", tuple(torch.transpose(input=m, dim0=0, dim1=1).shape),
      tuple(torch.permute(m.unsqueeze(dim=0), dims=(2, 0, 1)).shape))
print("gather:", torch.gather(input=m, dim=1, index=torch.tensor([[0], [3], [1]])).flatten().tolist())
print("softmax:", [round(v, 6) for v in torch.softmax(input=m[0], dim=0).tolist()])
print("linspace:", torch.linspace(start=0.0, end=1.0, steps=3).tolist(), "full:", torch.full(size=(2,), fill_value=7).tolist())

# elementwise with out= and in-place buffers, dtype promotion by the out tensor
buf = torch.empty(4)
torch.mul(input=m[0], other=2, out=buf)
torch.add(input=buf, other=m[1], alpha=0.5, out=buf)
print("buffer:", buf.tolist())
ints = torch.empty(0, dtype=torch.int64)
print("argsort into int64:", torch.argsort(input=m[2], descending=True).tolist(), torch.cumsum(m[0].long(), dim=0, out=ints).tolist())
values, indices = torch.empty(0), torch.empty(0, dtype=torch.long)
torch.max(m, 1, out=(values, indices))
print("max out tuple:", values.tolist(), indices.tolist())

# autograd refuses out= on tensors that require grad, as torch does
w = torch.randn(size=(3,), requires_grad=True)
try:
    torch.mul(w, 2, out=torch.empty(3))
except RuntimeError as e:
    print("out with grad:", "don't support automatic differentiation" in str(e))
with torch.no_grad():
    torch.mul(w, 0, out=torch.empty(3))
print("no_grad out ok")
