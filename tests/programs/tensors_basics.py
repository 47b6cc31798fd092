"""Tensors: creation, dtypes, shapes, indexing, broadcasting, reductions, the NumPy bridge (tutorial style)."""
import numpy as np
import torch

data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
print("from list:", x_data.tolist(), x_data.dtype, x_data.shape)

np_array = np.array(data)
x_np = torch.from_numpy(np_array)
print("from numpy:", x_np.tolist(), x_np.dtype)

x_ones = torch.ones_like(x_data)
print("ones_like:", x_ones.tolist())
x_rand = torch.rand_like(x_data, dtype=torch.float)
print("rand_like shape/dtype:", tuple(x_rand.shape), x_rand.dtype)

shape = (2, 3)
print("zeros:", torch.zeros(shape).tolist(), "ones sum:", torch.ones(shape).sum().item())
tensor = torch.arange(12, dtype=torch.float32).reshape(3, 4)
print("shape:", tensor.shape, "dtype:", tensor.dtype, "device:", tensor.device)
print("first row:", tensor[0].tolist(), "first column:", tensor[:, 0].tolist(), "last column:", tensor[..., -1].tolist())
tensor[:, 1] = 0
print(tensor)
t1 = torch.cat([tensor, tensor, tensor], dim=1)
print("cat:", tuple(t1.shape), "stack:", tuple(torch.stack([tensor, tensor]).shape))

y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
print("matmul equal:", torch.equal(y1, y2), torch.allclose(y1, y3))
z1 = tensor * tensor
z2 = tensor.mul(tensor)
print("elementwise:", torch.equal(z1, z2), z1.sum().item())

agg = tensor.sum()
agg_item = agg.item()
print("sum item:", agg_item, type(agg_item).__name__)
tensor.add_(5)
print("after add_:", tensor[0].tolist())

t = torch.ones(5)
n = t.numpy()
t.add_(1)
print("numpy shares memory:", n.tolist())
n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)
print("tensor shares memory:", t.tolist(), t.dtype)

a = torch.arange(6).view(2, 3)
b = torch.tensor([10, 20, 30])
print("broadcast:", (a + b).tolist())
print("mean/std:", round(a.float().mean().item(), 6), round(a.float().std().item(), 6))
print("max/argmax:", a.max().item(), a.argmax().item(), a.max(dim=1).values.tolist(), a.max(dim=1).indices.tolist())
print("where:", torch.where(a > 2, a, -a).tolist())
print("masked:", a[a % 2 == 0].tolist())
print("permute/transpose:", tuple(torch.zeros(2, 3, 4).permute(2, 0, 1).shape), a.t().contiguous().view(-1).tolist())
print("squeeze/unsqueeze:", tuple(torch.zeros(1, 3, 1).squeeze().shape), tuple(b.unsqueeze(0).shape))
print("gather:", torch.gather(a, 1, torch.tensor([[2, 0], [1, 1]])).tolist())
print("sort:", torch.sort(torch.tensor([3.0, 1.0, 2.0]), descending=True).values.tolist())
print("topk:", torch.topk(torch.tensor([1.0, 5.0, 3.0, 4.0]), 2).indices.tolist())
print("cumsum:", torch.cumsum(torch.arange(5), dim=0).tolist())
print("linspace:", [round(v, 6) for v in torch.linspace(0, 1, steps=5).tolist()])
print("eye:", torch.eye(3).diag().tolist(), "clamp:", torch.tensor([-2.0, 0.5, 3.0]).clamp(min=0, max=1).tolist())
print("type conversions:", a.float().dtype, a.double().dtype, a.long().dtype, (a > 1).dtype, a.to(torch.int32).dtype)
print("chunk/split:", [c.tolist() for c in torch.arange(7).chunk(3)], [s.tolist() for s in torch.arange(5).split(2)])
print("einsum:", torch.einsum("ij,kj->ik", a.float(), a.float()).tolist())
print("numel/dim/size:", a.numel(), a.dim(), a.size(1), a.size())
