"""ember.nn: modules, layers, losses (``ember.nn.functional`` for the functional forms, ``ember.nn.init``).

>>> import ember.nn as nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> sorted(model.state_dict())
['0.bias', '0.weight', '2.bias', '2.weight']
"""
from .modules import *  # noqa: F401,F403
from .modules import Module  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401
from . import functional, init, utils  # noqa: E402,F401
from . import parallel  # noqa: E402,F401
from .parallel import SyncBatchNorm  # noqa: E402,F401
from . import attention, common_types, grad  # noqa: E402,F401


def factory_kwargs(kwargs):
    """torch's ``nn.factory_kwargs``: the ``device``/``dtype``/``memory_format`` entries of ``kwargs`` (and of its
    ``factory_kwargs`` entry) as one dict for factory functions; unexpected keys raise ``TypeError``."""
    if kwargs is None:
        return {}
    simple_keys = {"device", "dtype", "memory_format"}
    expected_keys = simple_keys | {"factory_kwargs"}
    if not kwargs.keys() <= expected_keys:
        raise TypeError(f"unexpected kwargs {kwargs.keys() - expected_keys}")
    r = dict(kwargs.get("factory_kwargs", {}))
    for k in simple_keys:
        if k in kwargs:
            if k in r:
                raise TypeError(f"{k} specified twice, in **kwargs and in factory_kwargs")
            r[k] = kwargs[k]
    return r


from .._compat import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("torch.nn", "ember.nn")  # listed torch names raise a clear error


# torch's file layout under ``torch.nn.modules``: checkpoint code names classes by their torch paths
# (``torch.nn.modules.pixelshuffle.PixelShuffle`` in a ``serialization.safe_globals`` list), so each
# class ember has is reachable at torch's ``nn.modules.<file>`` too; files ember splits differently are
# small modules registered here. The classes themselves (and their ``__module__``) stay where they are.
_TORCH_MODULE_FILES = {
    "activation": ("RReLU", "Hardshrink", "Softshrink", "Softmax2d"),
    "adaptive": ("AdaptiveLogSoftmaxWithLoss",),
    "batchnorm": ("BatchNorm1d", "LazyBatchNorm1d", "BatchNorm2d", "LazyBatchNorm2d", "BatchNorm3d",
                  "LazyBatchNorm3d", "SyncBatchNorm"),
    "channelshuffle": ("ChannelShuffle",),
    "container": ("Container",),
    "conv": ("LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
             "LazyConvTranspose3d"),
    "distance": ("PairwiseDistance", "CosineSimilarity"),
    "dropout": ("FeatureAlphaDropout",),
    "instancenorm": ("InstanceNorm1d", "LazyInstanceNorm1d", "InstanceNorm2d", "LazyInstanceNorm2d",
                     "InstanceNorm3d", "LazyInstanceNorm3d"),
    "loss": ("NLLLoss2d", "MultiLabelMarginLoss", "LinearCrossEntropyLoss", "MultiLabelSoftMarginLoss",
             "MultiMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss", "CTCLoss"),
    "normalization": ("LocalResponseNorm", "CrossMapLRN2d", "RMSNorm"),
    "padding": ("CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
                "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
                "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d"),
    "pixelshuffle": ("PixelShuffle", "PixelUnshuffle"),
    "pooling": ("MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"),
    "sparse": ("EmbeddingBag",),
    "upsampling": ("UpsamplingNearest2d", "UpsamplingBilinear2d"),
}


def _torch_module_files():
    import importlib
    import sys
    import types

    from . import modules as _pkg

    for file, names in _TORCH_MODULE_FILES.items():
        full = f"{_pkg.__name__}.{file}"
        try:
            mod = importlib.import_module(full)
        except ModuleNotFoundError:
            mod = types.ModuleType(full, f"torch.nn.modules.{file}'s classes (defined elsewhere in ember.nn).")
            mod.__all__ = list(names)
            sys.modules[full] = mod
            setattr(_pkg, file, mod)
        for n in names:
            if not hasattr(mod, n):
                setattr(mod, n, globals()[n])


_torch_module_files()
del _torch_module_files
