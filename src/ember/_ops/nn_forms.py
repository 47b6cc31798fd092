"""``torch.conv2d``, ``torch.dropout``...: the ``torch.*`` forms of ``nn.functional`` ops (nn is imported
when one is called, never by ``import ember``)."""
from __future__ import annotations

from ._registry import tensor_method
from ._helpers import _public


def _functional(name):
    def f(*args, out=None, **kwargs):
        from ..nn import functional as F

        if out is not None:  # torch.hardshrink(..., out=), torch.threshold(..., out=)
            from .. import _out

            return _out.into(out, name, getattr(F, name), *args, **kwargs)
        return getattr(F, name)(*args, **kwargs)

    f.__name__ = name
    f.__doc__ = f"``torch.{name}``: the same as ``torch.nn.functional.{name}``."
    return f


for _n in ("adaptive_avg_pool1d avg_pool1d max_pool1d max_pool2d max_pool3d conv1d conv2d conv3d conv_transpose1d "
           "conv_transpose2d conv_transpose3d bilinear celu selu hardshrink threshold pixel_shuffle pixel_unshuffle "
           "pairwise_distance").split():
    globals()[_n] = _functional(_n)


def _dropout_form(name, fname):
    def f(input, p, train):  # noqa: A002
        from ..nn import functional as F

        return getattr(F, fname)(input, p, train)

    f.__name__ = name
    f.__doc__ = f"``torch.{name}(input, p, train)``: ``torch.nn.functional.{fname}(input, p, training=train)``."
    return f


dropout = _dropout_form("dropout", "dropout")


alpha_dropout = _dropout_form("alpha_dropout", "alpha_dropout")
tensor_method(lambda self, lambd=0.5: _functional("hardshrink")(self, lambd), "hardshrink")


__all__ = _public(globals())
