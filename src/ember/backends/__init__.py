"""``ember.backends``: torch.backends' flags and availability queries, answered truthfully for ember.

ember computes with NumPy on the CPU (CuPy on a GPU): no cuDNN, MPS, oneDNN (mkldnn), MKL or
OpenMP backend of its own, so their ``is_available()`` answer False (``cudnn`` only when CuPy sees
a GPU and ships cuDNN). The switches programs set (``cudnn.benchmark``, ``cudnn.deterministic``,
``cuda.matmul.allow_tf32``, ...) are plain attributes: setting them is accepted and changes
nothing, since ember's CPU kernels are deterministic and compute in the tensor's own precision.

Example::

    >>> ember.backends.cudnn.benchmark = True      # accepted, no effect
    >>> ember.backends.mps.is_available()
    False
"""
from . import cpu, cuda, cudnn, mkl, mkldnn, mps, openmp

__all__ = ["cpu", "cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp"]
