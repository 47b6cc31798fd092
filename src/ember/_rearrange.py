"""``torch.func.rearrange`` (einops' ``rearrange``): reorder, split, merge, squeeze and unsqueeze axes by a
pattern such as ``"b (h w) c -> b c h w"``, with one ``reshape``, one ``permute`` and one ``reshape`` (all
differentiable views where the layout allows).

Pattern rules (as torch's): one ``->``; names are identifiers; ``(a b)`` composes axes (one level of
brackets); ``...`` stands for the axes not named (once per side, not in brackets on the left); ``1`` and
``()`` are axes of length 1 (no other numbers); every name appears on both sides; lengths a group cannot
tell are given as keyword arguments (``h=2``).
"""
from __future__ import annotations

import math

from ._tensor import Tensor

__all__ = ["rearrange"]

_ELL = "..."


def _parse(expr, side):
    """A list of items, one per axis of that side: ``...`` (top-level ellipsis) or a list of names (a group;
    ``[]`` for a unit axis; an ellipsis inside a group is the name ``...``)."""
    text = expr.strip()
    if "." in text.replace(_ELL, "", 1) or text.count(_ELL) > 1:
        raise ValueError(f"rearrange: the {side} side {expr!r} may contain dots only in one ellipsis (...)")
    items, group, seen = [], None, set()
    for tok in text.replace("(", " ( ").replace(")", " ) ").split():
        if tok == "(":
            if group is not None:
                raise ValueError("rearrange: Axis composition is one-level (brackets inside brackets not allowed)")
            group = []
            continue
        if tok == ")":
            if group is None:
                raise ValueError(f"rearrange: Brackets are not balanced in {expr!r}")
            items.append(group)
            group = None
            continue
        if tok != _ELL:
            if tok.isdigit():
                if int(tok) != 1:
                    raise ValueError(f"rearrange only supports unnamed axes of size 1, got {tok} in {expr!r}")
                if group is None:
                    items.append([])
                continue
            if not tok.isidentifier():
                raise ValueError(f"rearrange: Invalid axis identifier: {tok!r} in {expr!r} (names are identifiers)")
        if tok in seen:
            raise ValueError(f"rearrange: Indexing expression contains duplicate dimension '{tok}' in {expr!r}")
        seen.add(tok)
        if group is not None:
            group.append(tok)
        else:
            items.append(_ELL if tok == _ELL else [tok])
    if group is not None:
        raise ValueError(f"rearrange: Imbalanced parentheses in expression: {expr!r}")
    return items, seen


def rearrange(tensor, pattern, **axes_lengths):
    """``torch.func.rearrange``: ``rearrange(x, "b h w c -> b c h w")``; a list or tuple of tensors is stacked
    along a new first axis first.

    >>> import ember
    >>> from ember.func import rearrange
    >>> x = ember.arange(24.0).reshape(2, 3, 4)
    >>> tuple(rearrange(x, "b h w -> (b h) w").shape), tuple(rearrange(x, "b (h2 h) w -> b h2 h w 1", h=3).shape)
    ((6, 4), (2, 1, 3, 4, 1))
    """
    from . import _ops

    if not isinstance(tensor, Tensor):
        tensor = _ops.stack(list(tensor))
    if pattern.count("->") != 1:
        raise ValueError(f"rearrange: Pattern must contain a single '->' separator, got {pattern!r}")
    left_s, right_s = pattern.split("->")
    if _ELL in axes_lengths:
        raise ValueError(f"rearrange: '{_ELL}' is not an allowed axis identifier")
    for name, n in axes_lengths.items():
        if type(n) is not int:
            raise TypeError(f"rearrange axis lengths must be integers, got: {type(n)} for {name}")
    left, lnames = _parse(left_s, "left")
    right, rnames = _parse(right_s, "right")
    if any(isinstance(g, list) and _ELL in g for g in left):
        raise ValueError(f"rearrange: Ellipsis is parenthesis in the left side is not allowed: {pattern}")
    diff = lnames ^ rnames
    if diff:
        raise ValueError(f"rearrange: Identifiers only on one side of rearrange expression (should be on both): "
                         f"{sorted(diff)} in {pattern!r}")
    unmatched = set(axes_lengths) - lnames
    if unmatched:
        raise ValueError(f"rearrange: Identifiers not found in rearrange expression: {sorted(unmatched)}")

    shape = tuple(tensor.shape)
    n_ell = len(shape) - (len(left) - 1) if _ELL in left else 0
    want = len(left) - 1 if _ELL in left else len(left)
    if (_ELL in left and n_ell < 0) or (_ELL not in left and len(left) != len(shape)):
        rel = "less than or equal to" if _ELL in left else "equal to"
        raise ValueError(f"rearrange: Number of dimensions in pattern ({want}) must be {rel} the number of "
                         f"dimensions in the tensor ({len(shape)}): pattern {pattern!r}, shape {shape}")
    sizes, order, dim = {}, [], 0
    ell_names = [f"...{k}" for k in range(n_ell)]
    for item in left:
        if item == _ELL:
            for nm in ell_names:
                sizes[nm] = shape[dim]
                order.append(nm)
                dim += 1
            continue
        n = shape[dim]
        known = math.prod(axes_lengths[nm] for nm in item if nm in axes_lengths)
        unknown = [nm for nm in item if nm not in axes_lengths]
        if len(unknown) > 1:
            raise ValueError(f"rearrange: cannot infer the lengths of {unknown} from dimension {dim} (size {n}) of "
                             f"shape {shape}; give all but one as keyword arguments, e.g. {unknown[0]}=...")
        if unknown:
            if known <= 0 or n % known:
                raise ValueError(f"rearrange: dimension {dim} of size {n} (shape {shape}) cannot be split into "
                                 f"{item} with {', '.join(f'{k}={axes_lengths[k]}' for k in item if k in axes_lengths)}")
            sizes[unknown[0]] = n // known
        elif known != n:
            raise ValueError(f"rearrange: dimension {dim} has size {n} (shape {shape}) but the pattern's "
                             f"{'(' + ' '.join(item) + ')' if item else '1'} has length {known}")
        for nm in item:
            sizes.setdefault(nm, axes_lengths.get(nm))
            order.append(nm)
        dim += 1

    def expand(names):
        return [x for nm in names for x in (ell_names if nm == _ELL else [nm])]

    right_groups = [ell_names if item == _ELL else expand(item) for item in right]
    flat_right = [nm for g in right_groups for nm in g]
    out = tensor.reshape(tuple(sizes[nm] for nm in order))
    perm = [order.index(nm) for nm in flat_right]
    if perm != list(range(len(perm))):
        out = out.permute(*perm)
    final = []
    for item, g in zip(right, right_groups):
        if item == _ELL:
            final.extend(sizes[nm] for nm in g)
        else:
            final.append(math.prod(sizes[nm] for nm in g))
    return out.reshape(tuple(final))
