"""Tensor-manipulation-heavy code: indexing, scatter/gather, einsum attention, masked_fill, topk,
where, cumsum, sort, one-hot, bincount, in-place updates under no_grad, torch.Size and dtype
behaviour, .item()/.tolist(), f-strings with tensors."""
import numpy as np


def tensor_ops(torch, sync):
    F = torch.nn.functional
    r = {}
    rng = np.random.default_rng(5)
    logits = torch.tensor(rng.normal(size=(6, 5)).astype(np.float32))
    target = torch.tensor([0, 3, 1, 4, 4, 2])

    # shapes and dtypes
    B, C = logits.shape
    r["shape"] = (B, C)
    r["size_eq"] = logits.size() == torch.Size([6, 5]) and logits.shape == (6, 5)
    r["size_slice"] = list(logits.shape[1:])
    r["size_numel"] = torch.Size([2, 3, 4]).numel()
    r["unpack"] = list(torch.zeros(*logits.shape[:-1], 2).shape)
    r["dtype_float"] = logits.dtype == torch.float32 and logits.dtype.is_floating_point
    r["dtype_long"] = target.dtype == torch.long and not target.dtype.is_floating_point
    r["is_fp"] = torch.is_floating_point(logits) and not torch.is_floating_point(target)
    r["finfo"] = (torch.finfo(torch.float32).eps, torch.finfo(logits.dtype).max, torch.iinfo(torch.int64).max)
    r["promote"] = str((target + 0.5).dtype).split(".")[-1], str((target * 2).dtype).split(".")[-1]

    # top-k accuracy, gather, cross-entropy by hand
    top2 = logits.topk(2, dim=1).indices
    r["top2_acc"] = (top2 == target.unsqueeze(1)).any(dim=1).float().mean().item()
    logp = logits.log_softmax(-1)
    nll = -logp.gather(1, target[:, None]).squeeze(1)
    r["nll_match"] = torch.allclose(nll.mean(), F.cross_entropy(logits, target))
    r["nll"] = nll.tolist()
    vals, idx = torch.max(logits, dim=1)
    r["max"] = vals.tolist(), idx.tolist()
    mx = logits.max(1)
    r["max_nt"] = mx.values.sum().item(), mx.indices.tolist()

    # one-hot and scatter
    oh = torch.zeros(B, C).scatter_(1, target.unsqueeze(1), 1.0)
    r["onehot_eq"] = torch.equal(oh.long(), F.one_hot(target, num_classes=C))
    counts = torch.zeros(C, dtype=torch.long).scatter_add_(0, target, torch.ones_like(target))
    r["counts"] = counts.tolist()
    r["bincount"] = torch.bincount(target, minlength=C).tolist()
    conf = torch.zeros(C, C, dtype=torch.long)
    conf.index_put_((target, logits.argmax(1)), torch.ones(B, dtype=torch.long), accumulate=True)
    r["conf_trace"] = conf.trace().item()

    # attention by einsum with a causal mask
    T, H, D = 4, 2, 3
    q = torch.tensor(rng.normal(size=(2, H, T, D)).astype(np.float32))
    k = torch.tensor(rng.normal(size=(2, H, T, D)).astype(np.float32))
    v = torch.tensor(rng.normal(size=(2, H, T, D)).astype(np.float32))
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / D**0.5
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    scores = scores.masked_fill(~causal, float("-inf"))
    att = scores.softmax(dim=-1)
    out = att @ v
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    r["attn_match"] = torch.allclose(out, ref, atol=1e-5)
    r["attn_sum"] = out.sum().item()
    r["attn_upper_zero"] = (att[..., 0, 1:] == 0).all().item()
    merged = out.transpose(1, 2).contiguous().view(2, T, H * D)
    r["merged"] = merged.shape[-1]

    # where, clamp, cumsum, sort, unique, nonzero
    x = torch.tensor([3.0, -1.0, 0.5, -2.0, 4.0, 0.0])
    r["where"] = torch.where(x > 0, x, torch.zeros_like(x)).tolist()
    r["where_scalar"] = torch.where(x > 0, x, 0.0).tolist()
    r["clamp"] = x.clamp(min=-1.5, max=2.0).tolist()
    r["cumsum"] = x.cumsum(0).tolist()
    sv, si = torch.sort(x, descending=True)
    r["sort"] = sv.tolist(), si.tolist()
    u, cnt = torch.unique(torch.tensor([3, 1, 3, 2, 1, 3]), return_counts=True)
    r["unique"] = u.tolist(), cnt.tolist()
    r["nonzero"] = (x > 0).nonzero().squeeze(1).tolist()
    r["nonzero_tuple"] = [t.tolist() for t in torch.nonzero(x.view(2, 3) < 0, as_tuple=True)]
    r["argsort"] = x.argsort().tolist()
    r["cummax"] = torch.cummax(x, dim=0).values.tolist()

    # fancy indexing and boolean masks, in-place writes
    m = torch.arange(12).reshape(3, 4)
    r["fancy"] = m[[0, 2], [1, 3]].tolist()
    r["mask"] = m[m % 3 == 0].tolist()
    r["ellipsis"] = m[..., -1].tolist()
    r["step"] = m[:, ::2].tolist()
    m2 = m.clone()
    m2[m2 > 6] = -1
    m2[:, 0] += 100
    m2[1] = torch.tensor([7, 7, 7, 7])
    r["setitem"] = m2.tolist()
    r["flip_roll"] = m.flip(0).roll(1, dims=1)[0].tolist()
    r["stack_cat"] = list(torch.stack([m, m], dim=0).shape) + list(torch.cat([m, m], dim=1).shape)
    r["chunk"] = [c.shape[1] for c in m.chunk(3, dim=1)]
    r["split"] = [s.tolist() for s in torch.arange(7).split([3, 4])]
    a, b = torch.arange(6).view(2, 3).unbind(0)
    r["unbind"] = (a + b).tolist()
    r["repeat"] = torch.tensor([1, 2]).repeat(2, 2).tolist(), torch.tensor([1, 2]).repeat_interleave(2).tolist()
    r["expand"] = torch.arange(3).unsqueeze(0).expand(2, -1).tolist()
    r["meshgrid"] = [t.tolist() for t in torch.meshgrid(torch.arange(2), torch.arange(3), indexing="ij")]

    # a manual SGD loop with in-place updates under no_grad
    w = torch.zeros(3, requires_grad=True)
    b = torch.tensor(0.0, requires_grad=True)
    X = torch.tensor(rng.normal(size=(32, 3)).astype(np.float32))
    y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    for _ in range(50):
        loss = ((X @ w + b - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= 0.1 * w.grad
            b.sub_(0.1 * b.grad)
            w.grad.zero_()
            b.grad = None
    r["sgd_w"] = w.detach().tolist()
    r["sgd_b"] = b.item()
    r["sgd_loss"] = f"{loss.item():.5f}"
    r["fstring"] = f"loss={loss:.3f} b={b.item():.2f}"
    r["w_requires_grad"] = w.requires_grad and w.is_leaf and w.grad is not None

    # misc reductions and comparisons
    z = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    r["sum_dims"] = z.sum(dim=(0, 1)).item(), z.mean(0, keepdim=True).tolist()
    r["std_var"] = z.std().item(), z.var(dim=1, unbiased=False).tolist()
    r["norms"] = z.norm().item(), torch.linalg.norm(z, dim=1).tolist(), torch.linalg.vector_norm(z, ord=1).item()
    r["solve"] = torch.linalg.solve(z, torch.tensor([1.0, 2.0])).tolist(), torch.linalg.det(z).item()
    r["minmax"] = torch.minimum(z, z.t()).tolist(), z.amax(dim=1).tolist()
    r["isclose"] = torch.isclose(z, z + 1e-7).all().item()
    r["any_all"] = (z > 2).any().item(), (z > 0).all().item()
    r["argmax_flat"] = z.argmax().item()
    r["numpy"] = z.numpy().sum().item(), z.detach().cpu().numpy().dtype.name
    r["int_div"] = (torch.tensor([7, -7]) // 2).tolist(), (torch.tensor([7, -7]) % 3).tolist()
    r["pairwise"] = torch.cdist(z, z).tolist()
    r["outer_diag"] = torch.outer(z[0], z[1]).diagonal().tolist()
    r["bool_sum"] = (z > 1.5).sum().item(), (z > 1.5).sum().dtype == torch.int64
    r["zeros_like"] = torch.zeros_like(target, dtype=torch.float32).dtype == torch.float32
    r["full"] = torch.full((2,), 3.5).tolist(), torch.full((2,), 3).dtype == torch.int64
    r["arange_f"] = torch.arange(0, 1, 0.25).tolist()
    r["linspace"] = torch.linspace(0, 1, 5).tolist()
    return r
