"""ember's ops, one module per family; this package's namespace is every public op (``ember._ops.<name>``).

Each family module holds, for each op, its autograd node (forward and backward side by side), its function
and its ``Tensor`` method registration (``@tensor_method``). Modules import in the order below; a module that
needs an op of a later one imports it at its end (used at call time only). To add an op: write its node,
function and registration in its family module and add its test (docs/internals.md).
"""
from __future__ import annotations

from .._tensor import Tensor
from . import _registry, _helpers
from . import creation, casting, unary, binary, compare, reduce, shape, index, inplace_ops, linalg, complex_ops, sorting, softmax_family, printing, special_fns, nn_forms, flags

_FAMILIES = (creation, casting, unary, binary, compare, reduce, shape, index, inplace_ops, linalg, complex_ops, sorting, softmax_family, printing, special_fns, nn_forms, flags)
import sys as _sys
complex_ops.guard_real_only(_sys.modules[__name__])
from .creation import *
from .casting import *
from .unary import *
from .binary import *
from .compare import *
from .reduce import *
from .shape import *
from .index import *
from .inplace_ops import *
from .linalg import *
from .complex_ops import *
from .sorting import *
from .softmax_family import *
from .printing import *
from .special_fns import *
from .nn_forms import *
from .flags import *

# private names other parts of ember reach through ``ember._ops`` (``ns_*``: the tensor forms of the array
# functions a backward calls under create_graph, looked up by ember.autograd.functional_ns.TENSOR_NS)
from ._helpers import _dim, _t
from .creation import _legacy_new, torch_range
from .casting import cast, ns_cast, to_device
from .unary import _arr
from .binary import _promote, ns_where
from .reduce import ns_cumsum, ns_prod, ns_put_along_zeros, ns_sum, ns_sum_to, ns_take_along
from .shape import ns_expand, ns_flip, ns_reshape, ns_roll, ns_swap_last, ns_transpose, ns_tril, ns_triu
from .index import getitem, ns_index, ns_index_zeros, ns_pad_zeros, ns_value, setitem
from .inplace_ops import _INPLACE, inplace, inplace_fill, inplace_random
from .linalg import ns_matmul
from .complex_ops import ns_conj, ns_sgn
from .sorting import zeros_like_ns
from .softmax_family import ns_sum_keep
from .printing import _repr
from .special_fns import polygamma_m

__all__ = [n for m in _FAMILIES for n in m.__all__]
