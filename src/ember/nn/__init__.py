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
