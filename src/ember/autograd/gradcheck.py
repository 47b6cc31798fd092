"""Numerical gradient checks: ``gradcheck`` and ``gradgradcheck`` (central differences)."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _outputs(func, inputs):
    out = _as_tuple(func(*inputs))
    return [o for o in out if isinstance(o, Tensor) and o._data.dtype.kind in "fc"]


def _contract(o, v):
    """sum(v . out), for a complex output Re(sum(conj(v) out)): the real loss whose gradient with respect to
    ``out`` is ``v`` in torch's convention."""
    a = o._data
    if a.dtype.kind == "c":
        return float(np.sum((np.conj(v) * a.astype(np.complex128)).real))
    return float(np.sum(a.astype(np.float64) * v))


def _random_like(rng, a):
    v = rng.standard_normal(a.shape)
    return v + 1j * rng.standard_normal(a.shape) if a.dtype.kind == "c" else v


def _numerical(func, inputs, wrt, eps, vs):
    """d(sum_k v_k . out_k)/d(input) for each input index in ``wrt`` by central differences (for a complex
    input x + iy: dL/dx + i dL/dy, torch's convention)."""
    from .grad_mode import no_grad

    grads = []
    for i in wrt:
        x = inputs[i]
        cplx = x._data.dtype.kind == "c"
        g = np.zeros(x._data.shape, dtype=np.complex128 if cplx else np.float64)
        arr = x._data  # written element by element in place (any layout: a transposed view too)
        for j in np.ndindex(arr.shape):
            orig = arr[j].item()
            for unit in ((1, 1j) if cplx else (1,)):
                vals = []
                for delta in (eps, -eps):
                    arr[j] = orig + delta * unit
                    with no_grad():
                        outs = _outputs(func, inputs)
                    vals.append(sum(_contract(o, v) for o, v in zip(outs, vs)))
                arr[j] = orig
                g[j] += unit * (vals[0] - vals[1]) / (2 * eps)
        grads.append(g)
    return grads


def _unsupported(op, **flags):
    for name, on in flags.items():
        if on:
            raise NotImplementedError(f"{op}({name}=True): ember has no forward-mode AD or vmap; leave {name}=False "
                                      "(the backward check runs as usual)")


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True, fast_mode=False,
              masked=None, seed=0):
    """Check ``func``'s backward against central differences for the float64 ``inputs`` that require grad.

    The check contracts every output with a random upstream gradient ``v`` (so the whole vector-Jacobian
    product is tested, not only the gradient of a sum). Returns True, or raises ``GradcheckError``.

    >>> x = ember.randn(3, dtype=ember.float64, requires_grad=True)
    >>> ember.autograd.gradcheck(ember.tanh, (x,))
    True
    """
    _unsupported("gradcheck", check_batched_grad=check_batched_grad,
                 check_batched_forward_grad=check_batched_forward_grad, check_forward_ad=check_forward_ad)
    if not check_backward_ad:
        return True  # torch checks nothing else ember supports then
    from .engine import grad as autograd_grad

    inputs = _as_tuple(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    for i in wrt:
        if inputs[i]._data.dtype not in (np.float64, np.complex128):
            import warnings

            warnings.warn(
                f"gradcheck: input {i} is {inputs[i].dtype}, not float64; the check is likely to fail for precision "
                "reasons. Use .double() inputs.",
                UserWarning,
                stacklevel=2,
            )
    rng = np.random.default_rng(seed)
    outs = _outputs(func, inputs)
    if not outs:
        raise ValueError("gradcheck: func returned no floating-point tensor output")
    vs = [_random_like(rng, o._data) for o in outs]
    diff_outs = [o for o in outs if o.requires_grad]
    if diff_outs:
        vt = [Tensor._wrap(v.astype(o._data.dtype)) for o, v in zip(outs, vs) if o.requires_grad]
        analytical = autograd_grad(diff_outs, [inputs[i] for i in wrt], vt, allow_unused=True, retain_graph=False)
    else:
        analytical = [None] * len(wrt)
    numerical = _numerical(func, inputs, wrt, eps, vs)
    for i, a, n in zip(wrt, analytical, numerical):
        a_arr = np.zeros_like(n) if a is None else a._data.astype(n.dtype)
        if not np.allclose(a_arr, n, rtol=rtol, atol=atol, equal_nan=False):
            msg = (
                f"Jacobian mismatch with respect to input {i} (all outputs contracted with a random upstream "
                f"gradient),\n"
                f"numerical:{n}\nanalytical:{a_arr}\nmax abs difference: {np.max(np.abs(a_arr - n)) if n.size else 0}"
            )
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0, check_undefined_grad=True,
                  check_grad_dtypes=False, check_batched_grad=False, check_fwd_over_rev=False,
                  check_rev_over_rev=True, fast_mode=False, masked=False, seed=0):
    """Check second derivatives: gradcheck of the vector-Jacobian product of ``func`` with respect to the
    inputs and the upstream gradients."""
    _unsupported("gradgradcheck", check_batched_grad=check_batched_grad, check_fwd_over_rev=check_fwd_over_rev)
    if not check_rev_over_rev:
        return True
    from .engine import grad as autograd_grad

    inputs = _as_tuple(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outs = [o for o in _outputs(func, inputs) if o.requires_grad]
    rng = np.random.default_rng(seed + 1)
    if grad_outputs is None:
        grad_outputs = tuple(
            Tensor._wrap(_random_like(rng, o._data).astype(o._data.dtype)).requires_grad_(True) for o in outs
        )
    else:
        grad_outputs = _as_tuple(grad_outputs)
    n_in = len(inputs)

    def vjp(*args):
        from .grad_mode import enable_grad

        xs, gs = args[:n_in], args[n_in:]
        with enable_grad():  # gradcheck's numerical pass runs func under no_grad; the vjp needs a graph
            ys = [o for o in _outputs(func, xs) if o.requires_grad]
            res = autograd_grad(ys, [xs[i] for i in wrt], list(gs), create_graph=True, allow_unused=True)
        return tuple(r for r in res if r is not None)

    return gradcheck(vjp, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, seed=seed)
