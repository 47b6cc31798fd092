"""A bare define-by-run engine for the per-op chain of bench_core.py: the least a Python autograd engine on
NumPy does per op, as a reference for ember's per-op cost.

One object per value, one tape entry per op, a reverse walk calling one backward function per entry. No
type promotion, no shape, dtype or version checks, no hooks, no grad mode, no graph freeing, no error
messages; only the ops the chain uses. It computes the same arithmetic as ember's nodes (sigmoid as
1 / (1 + exp(-x)) in place, relu as a maximum), and bench_core.py checks its gradient against torch's.
"""
import numpy as np

TAPE = []


class V:
    __slots__ = ("d", "g", "rg")

    def __init__(self, d, rg=False):
        self.d, self.g, self.rg = d, None, rg

    def __mul__(self, o):
        if o.__class__ is V:
            out = V(self.d * o.d, True)
            TAPE.append((_bw_mul, self, o, out))
        else:
            out = V(self.d * o, True)
            TAPE.append((_bw_scale, self, o, out))
        return out

    def __add__(self, o):
        out = V(self.d + o.d, True)
        TAPE.append((_bw_add, self, o, out))
        return out

    def __sub__(self, s):
        out = V(self.d - s, True)
        TAPE.append((_bw_id, self, None, out))
        return out

    def tanh(self):
        out = V(np.tanh(self.d), True)
        TAPE.append((_bw_tanh, self, None, out))
        return out

    def sigmoid(self):
        e = np.exp(-self.d)
        e += 1
        out = V(np.reciprocal(e, out=e), True)
        TAPE.append((_bw_sigmoid, self, None, out))
        return out

    def sin(self):
        out = V(np.sin(self.d), True)
        TAPE.append((_bw_sin, self, None, out))
        return out

    def relu(self):
        out = V(np.maximum(self.d, 0), True)
        TAPE.append((_bw_relu, self, None, out))
        return out

    def sum(self):
        out = V(self.d.sum(), True)
        TAPE.append((_bw_sum, self, None, out))
        return out

    def backward(self):
        self.g = np.ones_like(self.d)
        for fn, a, b, out in reversed(TAPE):
            fn(a, b, out)
        TAPE.clear()


def _acc(x, g):
    if x.rg:
        x.g = g if x.g is None else x.g + g


def _bw_mul(a, b, out):
    _acc(a, out.g * b.d)
    _acc(b, out.g * a.d)


def _bw_scale(a, s, out):
    _acc(a, out.g * s)


def _bw_add(a, b, out):
    _acc(a, out.g)
    _acc(b, out.g)


def _bw_id(a, _, out):
    _acc(a, out.g)


def _bw_tanh(a, _, out):
    _acc(a, out.g * (1 - out.d * out.d))


def _bw_sigmoid(a, _, out):
    _acc(a, out.g * out.d * (1 - out.d))


def _bw_sin(a, _, out):
    _acc(a, out.g * np.cos(a.d))


def _bw_relu(a, _, out):
    _acc(a, out.g * (out.d > 0))


def _bw_sum(a, _, out):
    _acc(a, np.broadcast_to(out.g, a.d.shape))
