"""Random number generation: ``Generator``, the default generator, ``manual_seed`` and samplers."""
from __future__ import annotations

import math

import numpy as np

from . import _dtype as D
from . import _layout
from ._ops import full_like
from ._ops._registry import tensor_method
from ._tensor import Tensor


# Callables run with the generator before each draw from any ``Generator`` (outermost first): ember.func.vmap
# pushes one per call to raise in randomness='error' mode or to replay the same stream in 'same' mode.
_draw_hooks: list = []


class Generator:
    """A reproducible random stream (NumPy's PCG64 underneath).

    >>> g = ember.Generator().manual_seed(0)
    >>> ember.rand(3, generator=g)
    """

    def __init__(self, device="cpu"):
        self._seed = 67280421310721
        self.np = np.random.Generator(np.random.PCG64(self._seed))
        self.device = device

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            seed = seed & 0xFFFF_FFFF_FFFF_FFFF
        self._seed = seed
        self.np = np.random.Generator(np.random.PCG64(seed))
        return self

    def seed(self):
        s = int(np.random.SeedSequence().entropy) & 0xFFFF_FFFF_FFFF_FFFF
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    @property
    def np(self):
        """The underlying ``numpy.random.Generator``; every ember draw goes through this attribute, so
        ``ember.func.vmap`` can watch draws (its ``randomness`` modes) with a hook in ``_draw_hooks``."""
        if _draw_hooks:
            for hook in tuple(_draw_hooks):
                hook(self)
        return self._np

    @np.setter
    def np(self, value):
        self._np = value

    def get_state(self) -> Tensor:
        """The exact stream state as a uint8 tensor (41 bytes), restorable with ``set_state``."""
        st = self._np.bit_generator.state
        s, inc = st["state"]["state"], st["state"]["inc"]
        parts = [s.to_bytes(16, "little"), inc.to_bytes(16, "little"), bytes([st["has_uint32"]]),
                 int(st["uinteger"]).to_bytes(4, "little"), int(self._seed & (2**32 - 1)).to_bytes(4, "little")]
        return Tensor._wrap(np.frombuffer(b"".join(parts), dtype=np.uint8).copy())

    def set_state(self, new_state):
        a = new_state._data if isinstance(new_state, Tensor) else np.asarray(new_state)
        if a.dtype != np.uint8 or a.shape != (41,):
            raise RuntimeError(
                f"Generator.set_state: expected a uint8 tensor of 41 bytes from get_state(), got dtype {a.dtype} shape {a.shape}"
            )
        b = a.tobytes()
        bg = np.random.PCG64()
        bg.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(b[0:16], "little"), "inc": int.from_bytes(b[16:32], "little")},
            "has_uint32": b[32],
            "uinteger": int.from_bytes(b[33:37], "little"),
        }
        self.np = np.random.Generator(bg)
        return self


default_generator = Generator()
default_generator.seed()  # like torch: a new process draws different numbers unless seeded


def _gen(generator):
    return default_generator if generator is None else generator


def manual_seed(seed):
    """Seed ember's default generator (all ember randomness draws from it unless told otherwise)."""
    return default_generator.manual_seed(seed)


def seed():
    """Seed the default generator with a fresh number from the OS and return it (as ``torch.seed``)."""
    return default_generator.seed()


def initial_seed():
    """The seed the default generator was last seeded with: drawn from the OS when the process
    started, or the value given to ``manual_seed`` / returned by ``seed``."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state):
    default_generator.set_state(new_state)


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(s) for s in size)


def _float_dt(dtype, op="rand"):
    dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
    if not (dt.is_floating_point or dt.is_complex):
        raise TypeError(f"{op}: expected a floating or complex dtype, got {dt}")
    return dt


def _draw(g, size, dt, normal):
    """Samples of dtype ``dt``: for a complex dtype, real and imaginary parts drawn independently (each
    standard normal scaled by 1/sqrt(2), so E|z|^2 = 1, as torch's randn; or each uniform in [0, 1), as
    torch's rand)."""
    if dt.is_complex:
        parts = g.standard_normal(size + (2,)) * math.sqrt(0.5) if normal else g.random(size + (2,))
        return _complex_of_parts(parts, dt)
    return (g.standard_normal(size) if normal else g.random(size)).astype(dt.np)


def _complex_of_parts(parts, dt):
    """A complex array of dtype ``dt`` from a real array whose last axis (size 2) holds (real, imaginary)."""
    D.CPLX[0] = True
    return np.ascontiguousarray(parts.astype(dt.np.type(0).real.dtype)).view(dt.np)[..., 0]


def _no_complex(dt, op, why="only integral, floating-point and boolean types"):
    if dt.is_complex:
        raise RuntimeError(f"{op}: complex dtypes are not supported (got {dt}); it handles {why}, as torch's")


def _finish(arr, requires_grad, device=None):
    if device is not None:
        from ._backend import device as _device
        from ._backend import to_device

        arr = to_device(arr, _device(device))
    t = Tensor._wrap(arr)
    return t.requires_grad_(True) if requires_grad else t


def rand(*args, size=None, generator=None, out=None, dtype=None, layout=None, device=None, pin_memory=False,
         requires_grad=False):
    """Uniform samples in [0, 1)."""
    _layout.check("rand", layout, pin_memory)
    dt = _float_dt(dtype, "rand")
    size = args if size is None else (size,)
    return _out(_finish(_draw(_gen(generator).np, _size(size), dt, False), requires_grad, device), out, "rand")


def randn(*args, size=None, generator=None, out=None, dtype=None, layout=None, device=None, pin_memory=False,
          requires_grad=False):
    """Standard normal samples."""
    _layout.check("randn", layout, pin_memory)
    dt = _float_dt(dtype, "randn")
    size = args if size is None else (size,)
    return _out(_finish(_draw(_gen(generator).np, _size(size), dt, True), requires_grad, device), out, "randn")


def randint(low=0, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None, device=None,
            pin_memory=False, requires_grad=False):
    """Integers uniformly from [low, high): ``ember.randint(0, 10, (3,))``, ``ember.randint(10, (3,))``."""
    _layout.check("randint", layout, pin_memory)
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size), like torch
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size' (a tuple, e.g. (3,))")
    if high <= low:
        raise RuntimeError(f"randint: random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    dt = D.as_dtype(dtype) if dtype is not None else D.int64
    _no_complex(dt, "randint")
    return _out(_finish(_gen(generator).np.integers(low, high, size=_size((size,))).astype(dt.np), requires_grad,
                        device), out, "randint")


def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None, pin_memory=False,
             requires_grad=False):
    """A random permutation of 0..n-1."""
    _layout.check("randperm", layout, pin_memory)
    dt = D.as_dtype(dtype) if dtype is not None else D.int64
    _no_complex(dt, "randperm", "integral and floating-point types")
    return _out(_finish(_gen(generator).np.permutation(int(n)).astype(dt.np), requires_grad, device), out, "randperm")


def rand_like(input, *, generator=None, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None, pin_memory=False):
    _layout.check("rand_like", layout, pin_memory, memory_format)
    return rand(tuple(input.shape), dtype=dtype or input.dtype, generator=generator,
                device=input.device if device is None else device, requires_grad=requires_grad)


def randn_like(input, *, generator=None, dtype=None, layout=None, device=None, requires_grad=False,
               memory_format=None, pin_memory=False):
    _layout.check("randn_like", layout, pin_memory, memory_format)
    return randn(tuple(input.shape), dtype=dtype or input.dtype, generator=generator,
                 device=input.device if device is None else device, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, generator=None, dtype=None, layout=None, device=None,
                 requires_grad=False, memory_format=None, pin_memory=False):
    _layout.check("randint_like", layout, pin_memory, memory_format)
    return randint(low, high, tuple(input.shape), dtype=dtype or input.dtype, generator=generator,
                   device=input.device if device is None else device, requires_grad=requires_grad)


def normal(mean, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None, device=None,
           pin_memory=False, requires_grad=False):
    """Normal samples: tensor ``mean``/``std`` (broadcast), or float ones with a ``size``."""
    _layout.check("normal", layout, pin_memory)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m = mean._data if isinstance(mean, Tensor) else mean
        s = std._data if isinstance(std, Tensor) else std
        if np.iscomplexobj(s) or isinstance(s, complex):
            raise RuntimeError("normal expects standard deviation to be non-complex (got a complex std); pass a real "
                               "std: a complex result takes a complex mean")
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        dt = (mean if isinstance(mean, Tensor) else std)._data.dtype
        if dt.kind == "c":  # torch: each part normal with std / sqrt(2) around the mean
            res = Tensor._wrap((m + s * _draw(_gen(generator).np, shape, D.from_numpy(dt), True)).astype(dt))
        else:
            res = Tensor._wrap((m + s * _gen(generator).np.standard_normal(shape)).astype(dt))
    else:
        if size is None:
            raise TypeError("normal(mean, std) with float mean and std needs a size, e.g. normal(0.0, 1.0, (3,))")
        dt = D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()
        if dt.is_complex:  # torch: the (real) mean added to both parts, each with std / sqrt(2)
            res = _finish((mean * (1 + 1j) + std * _draw(_gen(generator).np, _size((size,)), dt, True)).astype(dt.np),
                          requires_grad, device)
        else:
            res = _finish((mean + std * _gen(generator).np.standard_normal(_size((size,)))).astype(dt.np),
                          requires_grad, device)
    return _out(res, out, "normal")


def bernoulli(input, p=None, *, generator=None, out=None):
    """0/1 draws with probabilities ``input`` (or the scalar ``p``), in ``input``'s dtype."""
    if input._data.dtype.kind == "c":
        raise RuntimeError(f"bernoulli: complex tensors are not supported (got {input.dtype}); torch's bernoulli "
                           "takes floating-point probabilities")
    probs = input._data if p is None else np.full(input.shape, float(p), dtype=input._data.dtype)
    return _out(Tensor._wrap((_gen(generator).np.random(probs.shape) < probs).astype(input._data.dtype)), out,
                "bernoulli")


def _out(res, out, op):
    if out is None:
        return res
    from ._out import into

    return into(out, op, lambda: res)


tensor_method(lambda self, p=None, *, generator=None: bernoulli(self if p is None else full_like(self, p),
                                                                 generator=generator), "bernoulli")


@tensor_method
def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    if input._data.dtype.kind == "c":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {input.dtype}")
    p = np.asarray(input._data, dtype=np.float64)
    if p.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {p.shape}")
    if (p < 0).any() or not np.isfinite(p).all():
        raise RuntimeError("multinomial: invalid probability distribution (entries must be finite and >= 0)")
    rows = p.reshape(-1, p.shape[-1])
    g = _gen(generator).np
    picks = []
    for r in rows:
        s = r.sum()
        if s <= 0:
            raise RuntimeError("multinomial: invalid probability distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > np.count_nonzero(r):
            raise RuntimeError("multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        picks.append(g.choice(len(r), size=num_samples, replace=replacement, p=r / s))
    res = np.stack(picks).astype(np.int64)
    return _out(Tensor._wrap(res if p.ndim == 2 else res[0]), out, "multinomial")
