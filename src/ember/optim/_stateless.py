"""``optim.swap_in_optimizer_params_and_state`` (torch's ``torch.optim._stateless``): run an optimizer's APIs
on other parameters and another state for the duration of a ``with`` block."""
from __future__ import annotations

import contextlib
from collections import defaultdict

__all__ = ["swap_in_optimizer_params_and_state"]

_OP = "swap_in_optimizer_params_and_state"


def _prepare(optimizer, swapin_parameters, swapin_optim_state):
    if not optimizer.state:
        raise RuntimeError(f"{_OP} requires initialized optimizer state (take one optimizer.step() first).")
    if not isinstance(swapin_optim_state, dict):
        raise RuntimeError(f"{_OP} requires an optimizer.state_dict()-style dict, got "
                           f"{type(swapin_optim_state).__name__}.")
    from .._tensor import Tensor

    state = swapin_optim_state.get("state")
    if not isinstance(state, dict):
        raise RuntimeError(f"{_OP} requires swapin_optim_state['state'] to be a dict mapping packed parameter ids "
                           f"to per-param state dicts, got {type(state).__name__}.")
    if any(isinstance(k, Tensor) for k in state):
        raise RuntimeError(f"{_OP} requires optimizer.state_dict()-style state keyed by packed parameter ids.")
    if any(isinstance(k, int) and not isinstance(v, dict) for k, v in state.items()):
        raise RuntimeError(f"{_OP} requires per-parameter optimizer state entries to be dictionaries.")
    groups = swapin_optim_state.get("param_groups")
    if not isinstance(groups, list):
        raise RuntimeError(f"{_OP} requires swapin_optim_state['param_groups'] to be a list of param-group dicts, "
                           f"got {type(groups).__name__}.")
    if len(groups) != len(optimizer.param_groups):
        raise RuntimeError("swapin_optim_state has a different number of parameter groups than the live optimizer.")
    flat = list(swapin_parameters.values())
    offset = 0
    seen = set()
    infos = []
    for idx, (group, sg) in enumerate(zip(optimizer.param_groups, groups)):
        if not isinstance(sg, dict):
            raise RuntimeError(f"{_OP} requires each optimizer param group to be a dictionary.")
        ids = sg.get("params")
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise RuntimeError(f"{_OP} requires optimizer.state_dict()-style param_groups[*]['params'] entries "
                               "keyed by packed parameter ids.")
        if len(group["params"]) != len(ids):
            raise RuntimeError(f"swapin_optim_state param group {idx} has a different number of params than the "
                               "live optimizer param group.")
        swapin_only = [k for k in sg if k not in group]
        live_only = [k for k in group if k not in sg]
        if swapin_only or live_only:
            raise RuntimeError(f"{_OP} requires optimizer.state_dict()-style param group keys to exactly match the "
                               f"live optimizer group keys for group {idx}. Keys only in swap-in: {swapin_only}. "
                               f"Keys only in live: {live_only}.")
        seen.update(ids)
        nxt = offset + len(ids)
        if nxt > len(flat):
            raise RuntimeError(f"{_OP} requires the explicit parameter state to match optimizer.param_groups "
                               f"ordering ({len(flat)} parameters given, the groups need more).")
        infos.append((group, sg, flat[offset:nxt]))
        offset = nxt
    extra = [k for k in state if k not in seen]
    if extra:
        raise RuntimeError(f"{_OP} requires swapin_optim_state['state'] to be keyed only by packed parameter ids "
                           f"from param_groups[*]['params']; got extra keys {extra!r}.")
    return state, infos


@contextlib.contextmanager
def swap_in_optimizer_params_and_state(optimizer, swapin_parameters, swapin_optim_state):
    """Temporarily replace ``optimizer``'s parameters with ``swapin_parameters`` (a dict, in the order of the
    optimizer's parameters, e.g. ``dict(model.named_parameters())``) and its state and hyperparameters with
    ``swapin_optim_state`` (an ``optimizer.state_dict()``-shaped dict); both are restored on exit. In-place
    updates of the state's tensors (what ``step()`` does) are visible in ``swapin_optim_state`` afterwards.

    >>> import ember
    >>> w = ember.nn.Parameter(ember.ones(2))
    >>> opt = ember.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> w.grad = ember.ones(2); opt.step()
    >>> w2 = ember.nn.Parameter(ember.zeros(2)); w2.grad = ember.ones(2)
    >>> with ember.optim.swap_in_optimizer_params_and_state(opt, {"w": w2}, opt.state_dict()):
    ...     opt.step()
    >>> w2.tolist(), w.tolist()
    ([-0.1899999976158142, -0.1899999976158142], [0.8999999761581421, 0.8999999761581421])
    """
    state, infos = _prepare(optimizer, swapin_parameters, swapin_optim_state)
    original_state = optimizer.state
    snapshots = [dict(g) for g in optimizer.param_groups]
    try:
        new_state = defaultdict(dict)
        for live, sg, params in infos:
            live["params"] = params
            for k, v in sg.items():
                if k != "params":
                    live[k] = v
            for p, pid in zip(params, sg["params"]):
                new_state[p] = dict(state.get(pid, {}))
        optimizer.state = new_state
        yield
    finally:
        for g, snap in zip(optimizer.param_groups, snapshots):
            g.clear()
            g.update(snap)
        optimizer.state = original_state
