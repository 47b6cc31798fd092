"""``ember.Tensor``: an n-dimensional array that records the operations applied to it."""
from __future__ import annotations

import numpy as np

from . import _dtype as D
from ._backend import device_of, xp_of

_o = None  # ember._ops, bound at the end of ember/__init__ (ops import Tensor)


class CLOCK:
    """A global count of in-place changes: a node saved at clock c needs checking only if it moved."""

    now = 0



def _storage_root(a):
    """The array that owns ``a``'s memory: up its chain of bases, through the ``DummyArray`` that NumPy's
    ``as_strided`` puts between a strided view (diagonal, unfold) and the array it views."""
    root = a
    while True:
        b = root.base
        if not isinstance(b, np.ndarray):
            b = getattr(b, "base", None)  # as_strided's DummyArray keeps the array it views
            if not isinstance(b, np.ndarray):
                return root
        root = b

class Tensor:
    """An n-dimensional array with autograd. Create one with ``ember.tensor(data)``.

    >>> x = ember.tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([[2., 4.]])
    """

    # Class-level defaults keep tensor creation cheap: an op sets only what differs.
    requires_grad = False
    grad_fn = None
    _base = None  # a view's root: the tensor whose storage (and history) it shares
    _is_conj = False  # True for the lazy conjugate views of complex tensors (complex_ops._ConjView)
    _vroot = None  # the tensor holding the version counter (views and .detach() results; .data has its own, as torch)
    _ver = 0  # in-place modification counter, kept on the version root
    _hist = 0  # bumped when a recorded in-place op rewrites the history of this root's storage
    _out_idx = 0
    _retains_grad = False

    @property
    def grad(self):
        """The accumulated gradient (None until a backward reaches this leaf)."""
        return self.__dict__.get("grad")

    @grad.setter
    def grad(self, value):
        # torch's checks: a wrong shape or dtype here would broadcast or cast silently in the next accumulation
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}")
            if tuple(value._data.shape) != tuple(self._data.shape):
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor of size "
                    f"'{list(self.shape)}'. Please ensure that the gradient and the tensor are the same size")
            d = self.__dict__
            want = d["_grad_dtype"] if "_grad_dtype" in d else self.dtype  # grad_dtype None: any dtype
            if want is not None and value.dtype != want:
                raise RuntimeError(f"attempting to assign a gradient with dtype '{value.dtype}' to a tensor with "
                                   f"grad_dtype '{want}'. The gradient must match the tensor's grad_dtype (defaults "
                                   "to the tensor's dtype)")
        self.__dict__["grad"] = value

    @grad.deleter
    def grad(self):
        self.__dict__["grad"] = None
    __array_priority__ = 1000  # make ndarray (op) Tensor defer to Tensor

    def __init__(self, *args, dtype=None, device=None, requires_grad=False):
        # torch's legacy constructor: Tensor(data) copies data as the default float dtype (or ``dtype``);
        # Tensor(*sizes) is an uninitialised tensor of that shape; Tensor() is empty
        self._data = _o._legacy_new(type(self), args, dtype, device)
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _wrap(array):
        """A tensor (no grad) around ``array`` without copying."""
        t = object.__new__(Tensor)
        if isinstance(array, np.generic):
            array = np.asarray(array)
        t._data = array
        return t

    # ------------------------------------------------------------------ metadata
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_o._dim(dim, self._data.ndim, "size")]

    def dim(self):
        return self._data.ndim

    ndimension = dim

    @property
    def ndim(self):
        return self._data.ndim

    def numel(self):
        return int(self._data.size)

    nelement = numel

    @property
    def dtype(self):
        return D._by_np[self._data.dtype]

    @property
    def device(self):
        return device_of(self._data)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    # Backend and layout predicates torch programs test (``if x.is_cuda or x.is_xpu:``): ember
    # tensors live on the CPU (or CuPy's CUDA), strided, unquantized, so these answer False.
    is_xpu = is_mps = is_meta = is_ipu = is_maia = is_mtia = is_vulkan = is_xla = property(lambda self: False)
    is_mkldnn = is_quantized = is_sparse = is_sparse_csr = is_nested = property(lambda self: False)

    def is_pinned(self, device=None):
        """False: ember has no page-locked host memory (``pin_memory()`` returns the tensor itself)."""
        return False

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def element_size(self):
        return self._data.itemsize

    def is_contiguous(self, memory_format=None):
        return bool(self._data.flags.c_contiguous)

    @property
    def itemsize(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return int(self._data.nbytes)

    def stride(self, dim=None):
        """Steps in elements between neighbours along each dim (NumPy's byte strides / itemsize)."""
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_o._dim(dim, self._data.ndim, "stride")]

    def data_ptr(self):
        return int(self._data.__array_interface__["data"][0]) if xp_of(self._data) is np else int(self._data.data.ptr)

    def get_device(self):
        return -1 if self.device.type == "cpu" else (self.device.index or 0)

    def pin_memory(self, device=None):
        return self

    @property
    def layout(self):
        from ._layout import strided

        return strided

    _shm = None  # the multiprocessing.shared_memory block holding _data, after share_memory_()

    def share_memory_(self):
        """Move the data into shared memory (in place), so processes this tensor is sent to (spawn
        arguments, queues) update the same numbers: see ``ember.multiprocessing``."""
        from .multiprocessing import share_tensor_

        return share_tensor_(self)

    def is_shared(self):
        return self._shm is not None

    def is_nonzero(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self._data.size} elements is ambiguous")
        return bool(self._data.reshape(()))

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def grad_dtype(self):
        """The dtype gradients are cast to when they reach this leaf (default: its own dtype; None: any)."""
        if self.grad_fn is not None:
            raise RuntimeError("grad_dtype can only be accessed on leaf tensors.")
        d = self.__dict__
        return d["_grad_dtype"] if "_grad_dtype" in d else self.dtype

    @grad_dtype.setter
    def grad_dtype(self, value):
        if self.grad_fn is not None:
            raise RuntimeError("grad_dtype can only be set on leaf tensors.")
        from ._dtype import dtype as _dt

        if value is not None and not isinstance(value, _dt):
            raise RuntimeError(f"grad_dtype must be a dtype (e.g. ember.float64) or None, but got "
                               f"{type(value).__name__}")
        self.__dict__["_grad_dtype"] = value

    @property
    def data(self):
        """A tensor sharing this one's storage, detached from the graph, with a version counter of its own (as
        torch's ``.data``: in-place changes through it are not seen by autograd; use ``detach()`` to have them
        checked)."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data must be set to a Tensor, got {type(value).__name__}")
        self._data = value._data

    @property
    def _version(self):
        """How many times the storage was changed in place (shared by views and ``.detach()``; ``.data`` has its own)."""
        r = self._vroot
        return (self if r is None else r)._ver

    def _bump(self):
        """Record an in-place change of the values (views share their root's counter)."""
        r = self._vroot
        r = self if r is None else r
        r._ver += 1
        CLOCK.now += 1

    def _current_version(self):
        return self._version

    def _is_view(self):
        return self._base is not None

    def storage_offset(self):
        """Offset in elements of this tensor's first element from the start of its storage."""
        a = self._data
        root = _storage_root(a)
        if xp_of(a) is not np or root is a:
            return 0
        off = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        return int(off // a.itemsize)

    def untyped_storage(self):
        raise NotImplementedError("untyped_storage(): ember tensors have no separate storage objects; use "
                                  "data_ptr() / storage_offset() to compare memory")

    # ------------------------------------------------------------------ conversion
    def numpy(self, *, force=False):
        """The values as a NumPy array sharing memory (like torch). Fails if it requires grad."""
        if self.requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on a tensor that requires grad. Use tensor.detach().numpy() instead."
            )
        if xp_of(self._data) is not np:
            if not force:
                raise TypeError(
                    f"can't convert {self.device} tensor to numpy. Use tensor.cpu() to copy it to host memory first."
                )
            return self._data.get()
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self._data if xp_of(self._data) is np else self._data.get()
        return a if dtype is None else a.astype(dtype)

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to a Python scalar (item() needs exactly one)"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        return np.asarray(self.__array__()).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self._data.size} elements is ambiguous; use .any() or .all()"
            )
        return bool(self._data.reshape(()))

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self):
        return id(self)

    def __reduce_ex__(self, protocol):
        # DataLoader worker processes send batches through multiprocessing queues.
        if self._shm is not None:  # shared: the receiver maps the same memory
            from .multiprocessing import reduce_shared

            return reduce_shared(self)
        return (_rebuild, (self.__array__(), self.requires_grad))

    def __repr__(self):
        return _o._repr(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self._data.ndim == 0:  # as torch: f"{t}" of a 0-dim tensor formats its number
            return format(self.item(), spec)
        return repr(self)

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError(
                "Only tensors created explicitly by the user (graph leaves) support deepcopy; use .detach().clone()"
            )
        cls = Tensor if isinstance(self, _View) else type(self)
        t = cls.__new__(cls)
        skip = ("_data", "grad", "_base", "_vroot", "_ver", "_hist", "_acc_node", "_vsteps", "_stamp", "_vgrad",
                "_gf", "_rg")
        t.__dict__.update({k: v for k, v in self.__dict__.items() if k not in skip})
        if isinstance(self, _View):
            t.requires_grad = self.requires_grad
        t._data = self._data.copy()
        if self.grad is not None:
            t.grad = Tensor._wrap(self.grad._data.copy())
        memo[id(self)] = t
        return t

    def to(self, *args, device=None, dtype=None, non_blocking=False, copy=False, memory_format=None, other=None):
        """Convert dtype and/or device: ``t.to(ember.float64)``, ``t.to("cpu")``, ``t.to(other)``;
        torch's trailing positional ``non_blocking, copy`` too. ``memory_format`` changes no value."""
        if other is not None:
            args = (other,) + args
        flags = [a for a in args if isinstance(a, bool)]
        if flags:
            args = tuple(a for a in args if not isinstance(a, bool))
            non_blocking, copy = (flags + [copy])[:2] if len(flags) == 1 else flags[:2]
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (D.dtype, type)) or (isinstance(a, str) and a.removeprefix("ember.") in D._by_name):
                dtype = a
            else:
                device = a
        out = self
        if device is not None:
            out = _o.to_device(out, device)
        if dtype is not None:
            out = _o.cast(out, D.as_dtype(dtype), explicit=True)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self, memory_format=None):
        return self.to(device="cpu")

    def cuda(self, device=None, non_blocking=False, memory_format=None):
        return self.to(device="cuda" if device is None else f"cuda:{int(device) if not isinstance(device, str) else device.split(':')[-1]}")

    def type(self, dtype=None, non_blocking=False):
        if dtype is None:
            return "ember." + {"f": "Float", "i": "Long", "u": "Byte", "b": "Bool", "c": "Complex"}[self._data.dtype.kind] + "Tensor"
        return self.to(dtype)

    def float(self):
        return _o.cast(self, D.float32, explicit=True)

    def double(self):
        return _o.cast(self, D.float64, explicit=True)

    def cfloat(self, memory_format=None):
        return _o.cast(self, D.complex64, explicit=True)

    def cdouble(self, memory_format=None):
        return _o.cast(self, D.complex128, explicit=True)

    def half(self):
        return _o.cast(self, D.float16, explicit=True)

    def long(self):
        return _o.cast(self, D.int64, explicit=True)

    def int(self):
        return _o.cast(self, D.int32, explicit=True)

    def short(self):
        return _o.cast(self, D.int16, explicit=True)

    def byte(self):
        return _o.cast(self, D.uint8, explicit=True)

    def bool(self):
        return _o.cast(self, D.bool_, explicit=True)

    def type_as(self, other):
        return _o.cast(self, other.dtype, explicit=True)

    # ------------------------------------------------------------------ autograd
    def requires_grad_(self, mode=True):
        requires_grad = mode
        if not self.is_leaf:
            if requires_grad:  # already requires grad: nothing to change (torch's)
                return self
            raise RuntimeError(
                "requires_grad_(False): you can only change requires_grad flags of leaf tensors; this tensor was "
                f"produced by {type(self.grad_fn).__name__}. Use var_no_grad = var.detach() instead."
            )
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError(
                f"only floating-point tensors can require gradients, got dtype {self.dtype}; "
                "convert first, e.g. x.float().requires_grad_()"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """A new tensor sharing storage and the version counter, cut from the graph (requires_grad=False)."""
        t = Tensor._wrap(self._data)
        r = self._vroot
        t._vroot = self if r is None else r
        return t

    def detach_(self):
        if self._base is not None:
            raise RuntimeError(
                f"detach_(): can't detach views in-place (this tensor of shape {tuple(self.shape)} is a view). "
                "Use detach() instead."
            )
        self.grad_fn = None
        self.requires_grad = False
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (see ``ember.autograd.backward``)."""
        from .autograd.engine import backward

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a replacement."""
        from .autograd.engine import register_tensor_hook

        return register_tensor_hook(self, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` (a leaf) as soon as its ``.grad`` has been accumulated in a backward pass,
        while the rest of backward goes on (what DDP and optimizer-in-backward use); it must return None."""
        from .autograd.engine import register_post_accumulate_grad_hook

        return register_post_accumulate_grad_hook(self, hook)

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        from .autograd.engine import retain_grad

        retain_grad(self)

    @property
    def retains_grad(self):
        return self._retains_grad

    def zero_(self):
        return _o.inplace_fill(self, 0)

    def fill_(self, value):
        return _o.inplace_fill(self, value)

    # ------------------------------------------------------------------ operators
    def __add__(self, o):
        return _o.add(self, o)

    def __radd__(self, o):
        return _o.add(o, self)

    def __sub__(self, o):
        return _o.sub(self, o)

    def __rsub__(self, o):
        return _o.sub(o, self)

    def __mul__(self, o):
        return _o.mul(self, o)

    def __rmul__(self, o):
        return _o.mul(o, self)

    def __truediv__(self, o):
        return _o.div(self, o)

    def __rtruediv__(self, o):
        return _o.div(o, self)

    def __floordiv__(self, o):
        return _o.floor_divide(self, o)

    def __rfloordiv__(self, o):
        return _o.floor_divide(o, self)

    def __mod__(self, o):
        return _o.remainder(self, o)

    def __rmod__(self, o):
        return _o.remainder(o, self)

    def __pow__(self, o):
        return _o.pow(self, o)

    def __rpow__(self, o):
        return _o.pow(o, self)

    def __matmul__(self, o):
        return _o.matmul(self, o)

    def __rmatmul__(self, o):
        return _o.matmul(o, self)

    def __neg__(self):
        return _o.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _o.abs(self)

    def __invert__(self):
        return _o.bitwise_not(self)

    def __and__(self, o):
        return _o.bitwise_and(self, o)

    __rand__ = __and__

    def __or__(self, o):
        return _o.bitwise_or(self, o)

    __ror__ = __or__

    def __xor__(self, o):
        return _o.bitwise_xor(self, o)

    __rxor__ = __xor__

    def __eq__(self, o):
        return _o.eq(self, o)

    def __ne__(self, o):
        return _o.ne(self, o)

    def __lt__(self, o):
        return _o.lt(self, o)

    def __le__(self, o):
        return _o.le(self, o)

    def __gt__(self, o):
        return _o.gt(self, o)

    def __ge__(self, o):
        return _o.ge(self, o)

    def __lshift__(self, o):
        return _o.bitwise_left_shift(self, o)

    def __rlshift__(self, o):
        return _o.bitwise_left_shift(o, self)

    def __rshift__(self, o):
        return _o.bitwise_right_shift(self, o)

    def __rrshift__(self, o):
        return _o.bitwise_right_shift(o, self)

    def __ilshift__(self, o):
        return self.bitwise_left_shift_(o)

    def __irshift__(self, o):
        return self.bitwise_right_shift_(o)

    def __iadd__(self, o):
        return _o.inplace(self, "add", o)

    def __isub__(self, o):
        return _o.inplace(self, "sub", o)

    def __imul__(self, o):
        return _o.inplace(self, "mul", o)

    def __itruediv__(self, o):
        return _o.inplace(self, "div", o)

    def __getitem__(self, idx):
        return _o.getitem(self, idx)

    def __setitem__(self, idx, value):
        _o.setitem(self, idx, value)

    # ------------------------------------------------------------------ in-place
    def add_(self, other, *, alpha=1):
        if alpha == 1:
            return _o.inplace(self, "add", other)
        return _o.inplace(self, "call", ("add", {"alpha": alpha}, other))  # alpha * other in the result dtype

    def sub_(self, other, *, alpha=1):
        if alpha == 1:
            return _o.inplace(self, "sub", other)
        return _o.inplace(self, "call", ("sub", {"alpha": alpha}, other))

    def mul_(self, other):
        return _o.inplace(self, "mul", other)

    def div_(self, other, *, rounding_mode=None):
        if rounding_mode is not None:
            return _o.inplace(self, "call", ("div", {"rounding_mode": rounding_mode}, other))
        return _o.inplace(self, "div", other)

    def pow_(self, exponent):
        return _o.inplace(self, "pow", exponent)

    def clamp_(self, min=None, max=None):
        return _o.inplace(self, "clamp", (min, max))

    clip_ = clamp_

    def copy_(self, other, non_blocking=False):
        return _o.inplace(self, "copy", other)

    def masked_fill_(self, mask, value):
        return _o.inplace(self, "masked_fill", (mask, value))

    def uniform_(self, from_=0, to=1, *, generator=None):
        return _o.inplace_random(self, "uniform", from_, to, generator)

    def normal_(self, mean=0, std=1, *, generator=None):
        return _o.inplace_random(self, "normal", mean, std, generator)

    def exp_(self):
        return _o.inplace(self, "exp", None)

    def neg_(self):
        return _o.inplace(self, "neg", None)

    def relu_(self):
        return _o.inplace(self, "relu", None)

    def sqrt_(self):
        return _o.inplace(self, "sqrt", None)

    def addcmul_(self, tensor1, tensor2, *, value=1):
        return _o.inplace(self, "add", tensor1 * tensor2 * value)

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        return _o.inplace(self, "add", tensor1 / tensor2 * value)

    def lerp_(self, end, weight):
        return _o.inplace(self, "add", (end - self) * weight)

    def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
        if reduce is not None:
            return _o.inplace(self, "call", ("scatter", {"reduce": reduce}, dim, index, src if value is None else value))
        return _o.inplace(self, "scatter", (dim, index, src if value is None else value))

    def scatter_add_(self, dim, index, src):
        return _o.inplace(self, "scatter_add", (dim, index, src))

    def index_add_(self, dim, index, source, *, alpha=1):
        return _o.inplace(self, "index_add", (dim, index, source, alpha))

    def index_put_(self, indices, values, accumulate=False):
        return _o.inplace(self, "index_put", (tuple(indices), values, accumulate))

    def index_fill_(self, dim, index, value):
        return _o.inplace(self, "index_fill", (dim, index, value))

    def index_copy_(self, dim, index, source):
        return _o.inplace(self, "index_copy", (dim, index, source))

    def fill_diagonal_(self, fill_value, wrap=False):
        return _o.inplace(self, "fill_diagonal", (fill_value, wrap))

    def bernoulli_(self, p=0.5, *, generator=None):
        return _o.inplace_random(self, "bernoulli", p, None, generator)

    def exponential_(self, lambd=1.0, *, generator=None):
        return _o.inplace_random(self, "exponential", lambd, None, generator)

    def random_(self, from_=0, to=None, *, generator=None):
        if to is None:
            from_, to = 0, (from_ if from_ else (2 ** 24 if self.is_floating_point() else 2 ** 31))
        return _o.inplace_random(self, "random", from_, to, generator)

    # ------------------------------------------------------------------ shape helpers
    @property
    def T(self):
        if self.ndim > 2:
            raise RuntimeError(
                f"Tensor.T is only defined for tensors of up to 2 dims (got {self.ndim}); use .mT or .permute()"
            )
        return _o.permute(self, tuple(range(self.ndim))[::-1])

    @property
    def mT(self):
        return _o.transpose(self, -2, -1)

    @property
    def mH(self):
        """The conjugate transpose of the last two dims (the transpose for real dtypes)."""
        return _o.adjoint(self)

    @property
    def H(self):
        """The conjugate transpose of a matrix (the transpose for real dtypes)."""
        t = self.T
        return _o.conj(t) if self._data.dtype.kind == "c" else t

    def view(self, *shape, size=None, dtype=None):
        if size is not None:
            shape = (size,)
        if dtype is not None or (len(shape) == 1 and isinstance(shape[0], (D.dtype,))):
            raise NotImplementedError("view(dtype) is not supported; use .to(dtype)")
        return _o.view(self, *shape)

    def view_as(self, other):
        return _o.view(self, other.shape)

    def reshape_as(self, other):
        return _o.reshape(self, other.shape)

    def expand_as(self, other):
        return _o.expand(self, other.shape)

    def _new(self, op, fn, size, fill, dtype, layout, device, pin_memory, requires_grad):
        from ._layout import check

        check(op, layout, pin_memory)
        if len(size) == 1 and isinstance(size[0], (tuple, list)):
            size = tuple(size[0])
        args = (size,) if fill is None else (size, fill)
        return fn(*args, dtype=dtype or self.dtype, requires_grad=requires_grad,
                  device=self.device if device is None else device)

    def new_zeros(self, *args, size=None, dtype=None, layout=None, device=None, pin_memory=False,
                  requires_grad=False):
        size = args if size is None else (size,)
        return self._new("new_zeros", _o.zeros, size, None, dtype, layout, device, pin_memory, requires_grad)

    def new_ones(self, *args, size=None, dtype=None, layout=None, device=None, pin_memory=False,
                  requires_grad=False):
        size = args if size is None else (size,)
        return self._new("new_ones", _o.ones, size, None, dtype, layout, device, pin_memory, requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, layout=None, device=None, pin_memory=False,
                 requires_grad=False):
        return self._new("new_full", _o.full, (size,), fill_value, dtype, layout, device, pin_memory, requires_grad)

    def new_empty(self, *args, size=None, dtype=None, layout=None, device=None, pin_memory=False,
                  requires_grad=False):
        size = args if size is None else (size,)
        return self._new("new_empty", _o.zeros, size, None, dtype, layout, device, pin_memory, requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False, pin_memory=False):
        from ._layout import check

        check("new_tensor", None, pin_memory)
        return _o.tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad,
                         device=self.device if device is None else device)


class _View(Tensor):
    """A tensor that shares its root's storage through a chain of view ops (``_vsteps``).

    Its autograd identity (``grad_fn``, ``requires_grad``) is derived from the root: when a recorded in-place
    op rewrites the root's history (``_hist``), the view's ``grad_fn`` is regenerated from the root on next
    use, as torch regenerates a stale view's ``grad_fn``."""

    _gf = None
    _rg = False

    def _refresh(self):
        from .autograd.grad_mode import STATE

        root = self._base
        self._stamp = root._hist
        prev = STATE.enabled
        STATE.enabled = self._vgrad
        try:
            t = root
            for fn, args in self._vsteps:
                t = fn(t, *args)
        finally:
            STATE.enabled = prev
        self._gf = t.grad_fn
        self._rg = t.requires_grad
        self._out_idx = t._out_idx

    @property
    def grad_fn(self):
        if self._stamp != self._base._hist:
            self._refresh()
        return self._gf

    @grad_fn.setter
    def grad_fn(self, v):
        self._gf = v

    @property
    def requires_grad(self):
        if self._stamp != self._base._hist:
            self._refresh()
        return self._rg

    @requires_grad.setter
    def requires_grad(self, v):
        self._rg = v


class _Unsupported:
    """``Tensor.<torch name ember lists as unsupported>``: looking it up (on the class or a tensor) raises the
    clear ``NotSupportedError`` (an AttributeError, so ``hasattr`` answers False).

    These are descriptors installed at import rather than a ``__getattr__`` on ``Tensor``: a class with
    ``__getattr__`` (or a metaclass) loses CPython's specialised attribute access, which made every
    ``x._data`` / ``x.grad_fn`` of every op measurably slower (about 8 % of the per-op overhead)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __get__(self, obj, cls=None):
        from ._compat import error

        raise error("torch.Tensor", self.name)


def _install_unsupported():
    from ._compat import exclusions

    for name, (category, _) in exclusions().get("torch.Tensor", {}).items():
        if category != "signature" and not name.startswith("_") and name not in Tensor.__dict__:
            setattr(Tensor, name, _Unsupported(name))


_install_unsupported()


class Size(tuple):
    """The shape of a tensor: a tuple of ints (``torch.Size``)."""

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"ember.Size([{', '.join(map(str, self))}])"

    # torch.Size stays a Size under slicing and concatenation (distributions build shapes this way)
    def __getitem__(self, key):
        r = tuple.__getitem__(self, key)
        return Size(r) if isinstance(key, slice) else r

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))


def _rebuild(array, requires_grad):
    t = Tensor._wrap(np.array(array))
    if requires_grad:
        t.requires_grad = True
    return t


def _make_inplace(name, fn):
    def method(self, *args, **kwargs):
        return _o.inplace(self, name, (kwargs, *args))

    method.__name__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: the result is written into this tensor."
    _o._INPLACE[name] = lambda a, b: fn(a, *b[1:], **b[0])
    return method


def _has(name):
    return any(name in k.__dict__ for k in Tensor.__mro__)


def _bind_methods(ops):
    """Attach the ops registered with ``@tensor_method`` (next to each op in ``ember._ops``) to ``Tensor``:
    ``x.exp()`` is ``ember.exp(x)``; ``x.abs_()`` writes ``abs(x)`` into x. Names the class defines stay."""
    global _o
    _o = ops
    for fn, names, inplace_names, dunder in ops._registry.REGISTERED:
        for name in names:
            if not _has(name):
                setattr(Tensor, name, fn)
        for name in inplace_names:
            if not _has(name + "_"):
                if name in ops._INPLACE:
                    raise RuntimeError(f"in-place op {name!r} registered twice")
                setattr(Tensor, name + "_", _make_inplace(name, fn))
        if dunder is not None:
            setattr(Tensor, dunder, fn)  # hot operators call the op function directly (one frame less)
