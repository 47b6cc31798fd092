"""``ember.special``: torch.special's functions on real tensors."""
from __future__ import annotations

from . import _ops as _o

expit = _o.sigmoid
erf = _o.erf
expm1 = _o.expm1
log1p = _o.log1p
logit = _o.logit
xlogy = _o.xlogy
logsumexp = _o.logsumexp
softmax = _o.softmax
log_softmax = _o.log_softmax
round = _o.round  # noqa: A001  (torch's name)


from ._compat import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("torch.special", "ember.special")  # listed torch names raise a clear error
