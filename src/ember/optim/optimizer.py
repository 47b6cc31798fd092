"""The ``Optimizer`` base class: parameter groups, per-parameter state, state dicts.

Update rules live in small module-level functions (one per optimizer) that work in place on the
raw NumPy arrays ``p._data`` / ``p.grad._data``; no autograd graph is ever recorded by a step.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections import defaultdict

import numpy as np

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marker for a hyperparameter with no default (each group must set it)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _tensor_cls():
    from .._tensor import Tensor

    return Tensor


def _wrap(array):
    """An ember Tensor around ``array`` (no copy, no grad)."""
    return _tensor_cls()._wrap(array)


def _scalar_dtype():
    """dtype of the 0-d ``step`` counters: float64 when the default dtype is float64 (as torch)."""
    try:
        import ember

        if ember.get_default_dtype() == ember.float64:
            return np.float64
    except (AttributeError, ImportError):  # default-dtype API not there: float32 as torch's default
        pass
    return np.float32


def _scalar(value, dtype=None):
    """A 0-d ember Tensor holding ``value`` (the ``step``/``mu_product`` counters)."""
    return _wrap(np.array(value, dtype=dtype or _scalar_dtype()))


def _check_param(cls_name, value, name, low=0.0, high=None, high_inclusive=False, label=None):
    """Raise a torch-style ``ValueError`` ('Invalid <label>: <value>') unless low <= value (< or <=) high."""
    label = label or f"{name} value"
    if isinstance(value, (str, bytes)):  # float("0.1") would accept it; torch refuses
        raise TypeError(f"{cls_name}: {name} must be a number (or a 0-d tensor), got str {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{cls_name}: {name} must be a number, got {type(value).__name__}") from None
    ok = v >= low
    if high is not None:
        ok = ok and (v <= high if high_inclusive else v < high)
    if not ok:
        bound = f"[{low}, {high}{']' if high_inclusive else ')'}" if high is not None else f">= {low}"
        raise ValueError(f"{cls_name}: Invalid {label}: {value} (expected a value {bound})")


def _check_betas(cls_name, betas):
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"{cls_name}: betas must be a pair (beta1, beta2), got {betas!r}") from None
    _check_param(cls_name, b1, "betas[0]", 0.0, 1.0, label="beta parameter at index 0")
    _check_param(cls_name, b2, "betas[1]", 0.0, 1.0, label="beta parameter at index 1")
    return (float(b1), float(b2))


def _reject_unsupported(cls_name, **flags):
    """torch-only execution flags: accepted when off, a clear error when switched on."""
    for name, value in flags.items():
        if value:
            raise NotImplementedError(
                f"{cls_name}: {name}=True is not supported by ember (NumPy backend); leave it at its default"
            )


class _Scratch:
    """Reusable work arrays, one small set per parameter (avoids a fresh allocation every step)."""

    __slots__ = ("bufs",)

    def __init__(self):
        self.bufs = {}

    def get(self, p, data, n):
        key = id(p)
        bufs = self.bufs.get(key)
        if bufs is None or len(bufs) < n or bufs[0].shape != data.shape or bufs[0].dtype != data.dtype:
            bufs = [np.empty_like(data) for _ in range(max(n, len(bufs) if bufs else 0))]
            self.bufs[key] = bufs
        return bufs


# Update rules are elementwise, so a big parameter is split into contiguous chunks updated by
# worker threads (NumPy releases the GIL inside ufunc loops), as torch's kernels use all cores.
_PAR_MIN = 1 << 17  # elements; below this the thread hand-off costs more than it saves
_CHUNK = 1 << 16  # elements per chunk of a one-thread update (256 KiB of float32 per array)
_MAX_THREADS = 4
_pool = None
_pool_pid = None


def _num_threads():
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, _MAX_THREADS))


def _executor():
    """The process's worker pool (re-created after a fork: threads do not survive one)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        from concurrent.futures import ThreadPoolExecutor  # lazy: keeps `import ember` fast

        _pool = ThreadPoolExecutor(max_workers=max(1, _num_threads() - 1), thread_name_prefix="ember-optim")
        _pool_pid = os.getpid()
    return _pool


def _real_pairs(a):
    """A complex array as a writable real view with a last axis (real, imaginary), as torch's optimizers treat
    complex parameters (``view_as_real``); a real array as it is."""
    if a.dtype.kind != "c":
        return a
    r = a.real
    return np.lib.stride_tricks.as_strided(r, r.shape + (2,), r.strides + (r.itemsize,), writeable=a.flags.writeable)


def _apply(rule, arrays, parallel=True, **scalars):
    """Run ``rule(*arrays, **scalars)``; for big contiguous arrays, on chunks in parallel threads.

    ``arrays`` are same-shape arrays (or None) updated in place; ``rule`` must be purely elementwise.
    ``parallel=False`` for rules so cheap (SGD) that they are memory-bound: threads only add overhead.
    """
    if any(a is not None and a.dtype.kind == "c" for a in arrays):  # complex: the rule on (real, imag) pairs
        arrays = tuple(None if a is None else _real_pairs(a) for a in arrays)
    n = arrays[0].size
    if parallel and n >= _PAR_MIN and all(a is None or a.flags.c_contiguous for a in arrays):
        k = min(_num_threads(), n // (_PAR_MIN // 2))
        if k > 1:
            flat = [None if a is None else a.reshape(-1) for a in arrays]
            cuts = [n * i // k for i in range(k + 1)]
            parts = [[None if a is None else a[lo:hi] for a in flat] for lo, hi in zip(cuts, cuts[1:])]
            pool = _executor()
            futures = [pool.submit(rule, *part, **scalars) for part in parts[1:]]
            try:
                rule(*parts[0], **scalars)
            finally:
                for f in futures:
                    f.result()
            return
    if n >= 2 * _CHUNK and all(a is None or a.flags.c_contiguous for a in arrays):
        # cache-sized chunks: the rule's several passes then read and write each chunk in cache (one pass
        # over memory instead of one per ufunc; ~20 % off SGD-momentum's step on the MLP benchmark)
        flat = [None if a is None else a.reshape(-1) for a in arrays]
        for lo in range(0, n, _CHUNK):
            hi = lo + _CHUNK
            rule(*[None if a is None else a[lo:hi] for a in flat], **scalars)
        return
    rule(*arrays, **scalars)


def _effective_grad(p, g, weight_decay, maximize, out):
    """``(-g if maximize else g) + weight_decay * p``, written into ``out`` only when it must differ from g."""
    if weight_decay != 0:
        np.multiply(p, weight_decay, out=out)
        if maximize:
            np.subtract(out, g, out=out)
        else:
            np.add(out, g, out=out)
        return out
    if maximize:
        return np.negative(g, out=out)
    return g


class Optimizer:
    """Base class of all optimizers (torch semantics).

    ``param_groups`` is a list of dicts, each with ``'params'`` (a list of tensors) and every
    hyperparameter (defaults filled in); ``state`` maps each parameter to a dict of ember Tensors.
    Subclasses set ``defaults`` and implement ``_step_group(group)``.

    Example:
        >>> w = ember.tensor([1.0, 2.0], requires_grad=True)
        >>> opt = ember.optim.SGD([w], lr=0.5)
        >>> w.grad = ember.tensor([1.0, 1.0])
        >>> opt.step()
        >>> w.tolist()
        [0.5, 1.5]
    """

    # True: the update rule runs through ``_apply`` only, so a complex parameter is updated as torch's optimizers
    # do, on its (real, imaginary) pairs with its state tensors complex of the parameter's shape
    _complex_ok = False

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._scratch = _Scratch()
        Tensor = _tensor_cls()
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or dicts, but got a single Tensor; "
                f"wrap it in a list: {name}([t], ...)"
            )
        if isinstance(params, dict):
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or of param-group dicts, but got a dict; "
                f"wrap it in a list: {name}([group], ...)"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{name}: optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        try:
            param_groups = list(params)
        except TypeError:
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or dicts, but got {type(params).__name__}"
            ) from None
        if len(param_groups) == 0:
            raise ValueError(f"{name}: optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        return "\n".join(lines) + "\n)"

    # -- parameter groups -------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a dict ``{'params': [...], <hyperparameter overrides>}`` to ``param_groups``.

        Example:
            >>> opt = ember.optim.SGD([w1], lr=0.1)
            >>> opt.add_param_group({"params": [w2], "lr": 0.01})
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}.add_param_group: the param group dict has no 'params' key")
        Tensor = _tensor_cls()
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{name}: optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        group = dict(param_group)
        names = [p[0] for p in params if isinstance(p, tuple)]
        if names:
            if len(names) != len(params):
                raise ValueError(
                    f"{name}: all optimizer params should be with/without names. Some param names are missing"
                )
            group["param_names"] = names
            params = [p[1] for p in params]
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{name}: optimizer can only optimize Tensors, but params[{i}] of the new group "
                    f"is a {type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: can't optimize a non-leaf Tensor (params[{i}], shape {tuple(p.shape)}); "
                    "pass the leaf parameter itself, or x.detach().requires_grad_()"
                )
            if p._data.dtype.kind == "c" and not self._complex_ok:
                raise TypeError(
                    f"{name}: complex parameters are not supported by this optimizer in ember (params[{i}] has dtype "
                    f"{p.dtype}); SGD, Adam, AdamW, Adamax, NAdam, RAdam, RMSprop, Adagrad and Adadelta take them, "
                    "or optimize a real parameter and build the complex one with ember.view_as_complex"
                )
            if not (np.issubdtype(p._data.dtype, np.floating) or p._data.dtype.kind == "c"):
                raise TypeError(
                    f"{name}: can only optimize floating-point tensors, but params[{i}] has dtype {p.dtype}"
                )
        group["params"] = params
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(
                    f"{name}: parameter group didn't specify a value of required optimization parameter {key}"
                )
            group.setdefault(key, default)
        ids = [id(p) for p in params]
        if len(ids) != len(set(ids)):
            warnings.warn(
                f"{name}: a parameter group contains the same parameter more than once; it will be "
                "updated once per occurrence",
                UserWarning,
                stacklevel=2,
            )
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        for g in self.param_groups:
            if ("param_names" in g) != ("param_names" in group):
                kind = "with names" if "param_names" in group else "without names"
                raise ValueError(
                    f"{name}: all optimizer param groups should be with/without names. "
                    f"cannot add param group {kind} to the optimizer"
                )
        clash = [i for i, p in enumerate(params) if id(p) in existing]
        if clash:
            raise ValueError(
                f"{name}: some parameters appear in more than one parameter group "
                f"(params {clash} of the new group are already optimized by an earlier group)"
            )
        self._validate_group(group)
        self.param_groups.append(group)

    def _validate_group(self, group):
        """Hook for subclasses: check a group's hyperparameters (overrides included)."""

    def _state_keys(self, group):
        """The per-parameter state keys a step needs once a parameter has state (checked on load)."""
        return ()

    def _state_shape(self, key, p):
        """The shape a loaded state tensor ``key`` of parameter ``p`` must have (None: the parameter's)."""
        return None

    # -- gradients and steps ------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all optimized tensors (to ``None`` by default, else to zeros).

        Example:
            >>> opt.zero_grad()          # p.grad is None afterwards
        """
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.grad_fn is not None:
                        g = g.detach()
                        p.grad = g
                    g._data[...] = 0

    def _eval_closure(self, closure):
        if closure is None:
            return None
        import ember

        enable = getattr(ember, "enable_grad", None)
        if enable is None:
            return closure()
        with enable():
            return closure()

    def step(self, closure=None):
        """Perform one optimization step; ``closure`` (optional) re-evaluates and returns the loss.

        Example:
            >>> loss = opt.step(lambda: compute_loss())   # or simply opt.step()
        """
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group):
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    def _grads(self, group, nbuf):
        """Yield ``(p, p_array, grad_array, scratch_list)`` for the group's params that have a grad."""
        scratch = self._scratch
        name = type(self).__name__
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            d = p._data
            ga = g._data
            if ga.shape != d.shape:
                raise RuntimeError(
                    f"{name}.step: gradient shape {tuple(ga.shape)} does not match parameter shape "
                    f"{tuple(d.shape)}; set p.grad to a tensor of the parameter's shape"
                )
            if ga.dtype != d.dtype:
                ga = ga.astype(d.dtype)
            yield p, d, ga, scratch.get(p, d, nbuf)[:nbuf]

    # -- state dicts --------------------------------------------------------------------------
    def state_dict(self):
        """Return ``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}`` (torch layout).

        Parameters are replaced by their position across all groups; state values are ember Tensors
        (or plain numbers), so ``ember.save`` can write the result.

        Example:
            >>> sd = opt.state_dict()
            >>> sd["param_groups"][0]["params"]
            [0, 1]
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.copy(v) for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            i = index.get(id(p))
            if i is not None and s:
                state[i] = dict(s)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state dict made by :meth:`state_dict` (same group count and sizes), copying its tensors.

        Example:
            >>> opt2 = ember.optim.Adam(model.parameters())
            >>> opt2.load_state_dict(opt.state_dict())
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            got = sorted(map(str, state_dict)) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(
                f"{name}.load_state_dict: expected a dict with keys 'state' and 'param_groups', got {got}"
            )
        saved_groups = state_dict["param_groups"]
        saved_state = state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not isinstance(saved_state, dict):
            raise ValueError(
                f"{name}.load_state_dict: 'param_groups' must be a list and 'state' a dict, got "
                f"{type(saved_groups).__name__} and {type(saved_state).__name__}"
            )
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)}) than the optimizer ({len(self.param_groups)})"
            )
        for i, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if not isinstance(sg, dict) or not isinstance(sg.get("params"), (list, tuple)):
                raise ValueError(f"{name}.load_state_dict: param_groups[{i}] must be a dict with a 'params' list")
            if len(sg["params"]) != len(g["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: loaded state dict contains a parameter group that doesn't match "
                    f"the size of optimizer's group: group {i} has {len(sg['params'])} params in the state dict "
                    f"but {len(g['params'])} in the optimizer"
                )
        id_map = {}
        for g, sg in zip(self.param_groups, saved_groups):
            for idx, p in zip(sg["params"], g["params"]):
                id_map[_norm_key(idx)] = p
        Tensor = _tensor_cls()
        new_state = defaultdict(dict)
        for k, v in saved_state.items():
            p = id_map.get(_norm_key(k))
            if p is None:
                raise ValueError(
                    f"{name}.load_state_dict: state entry {k!r} refers to no parameter of the loaded "
                    f"param_groups (known indices: {sorted(id_map)})"
                )
            if not isinstance(v, dict):
                raise ValueError(f"{name}.load_state_dict: state[{k!r}] must be a dict, got {type(v).__name__}")
            entry = {}
            for key, val in v.items():
                if isinstance(val, Tensor):
                    val = _cast_state_tensor(name, key, k, val, p, self._state_shape(key, p))
                elif key in ("step", "mu_product") and isinstance(val, (int, float)):
                    val = _scalar(float(val))  # older torch checkpoints keep the step as a number
                else:
                    val = copy.deepcopy(val)
                entry[key] = val
            new_state[p] = entry
        new_groups = []
        for g, sg in zip(self.param_groups, saved_groups):
            ng = {key: copy.deepcopy(val) for key, val in sg.items() if key != "params"}
            if "betas" in ng and isinstance(ng["betas"], list):
                ng["betas"] = tuple(ng["betas"])
            ng["params"] = g["params"]
            if "param_names" in g and "param_names" not in ng:
                ng["param_names"] = g["param_names"]
            # flags added in later versions (bool/None defaults) are filled in; numbers must be there
            for key, default in self.defaults.items():
                if key not in ng and (default is None or isinstance(default, bool)):
                    ng[key] = default
            missing = [key for key in self.defaults if key not in ng]
            if missing:
                raise ValueError(
                    f"{name}.load_state_dict: param_groups[{len(new_groups)}] lacks the hyperparameters {missing}; "
                    f"was the state dict saved from a different optimizer type?"
                )
            for i, p in enumerate(ng["params"]):
                entry = new_state.get(p)
                if entry:
                    need = [key for key in self._state_keys(ng) if key not in entry]
                    if need:
                        raise ValueError(
                            f"{name}.load_state_dict: the state of param {i} of group {len(new_groups)} lacks "
                            f"{need} (has {sorted(entry)}); was it saved from a different optimizer or options?"
                        )
            new_groups.append(ng)
        self.state = new_state
        self.param_groups = new_groups
        self._scratch = _Scratch()


def _norm_key(k):
    """State indices may come back from a file as strings ('0'); compare them as ints."""
    if isinstance(k, str) and k.lstrip("-").isdigit():
        return int(k)
    return k


def _cast_state_tensor(opt_name, key, idx, val, p, shape=None):
    """Copy a saved state tensor; buffers take the parameter's dtype and must match its shape (or ``shape``,
    the optimizer's own expectation for that key, e.g. Adafactor's row and column factors)."""
    arr = np.array(val._data, copy=True)
    if key in ("step", "mu_product") or arr.ndim == 0 and p._data.ndim != 0:
        return _wrap(arr)
    want = p._data.shape if shape is None else tuple(shape)
    if arr.shape != want:
        raise ValueError(
            f"{opt_name}.load_state_dict: state[{idx}][{key!r}] has shape {tuple(arr.shape)} but its parameter "
            f"has shape {tuple(p._data.shape)} (expected {want}); the state dict was made for a different model"
        )
    if np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(p._data.dtype, copy=False)
    return _wrap(arr)

