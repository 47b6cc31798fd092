"""The model graph for TensorBoard's GRAPHS tab: a ``tensorflow.GraphDef`` protobuf built by hand.

One forward pass of the module on ``example_input_array`` (inputs made to require grad so they join the
graph) records ember's autograd graph; a module-path scope is attached to every recorded op with
forward hooks (innermost module first, as torch's ``add_graph`` scopes its nodes). Each backward node
becomes a ``NodeDef`` named ``<Module>/<child>/<Op>_<k>`` whose ``op`` is the forward op's name
(``grad_fn.name()`` without ``Backward``); parameters are ``Parameter`` nodes, inputs and outputs
``IO Node`` nodes under ``input/`` and ``output/``. Output shapes go in ``_output_shapes`` as torch does.

Field numbers (TensorFlow's ``graph.proto``, ``node_def.proto``, ``attr_value.proto``,
``tensor_shape.proto``, ``versions.proto``): GraphDef node=1 versions=4; NodeDef name=1 op=2 input=3
device=4 attr=5 (map entry key=1 value=2); AttrValue s=2 shape=7 list=1 (ListValue shape=7);
TensorShapeProto dim=2 (Dim size=1); VersionDef producer=1. Event graph_def=4.
"""
from __future__ import annotations

import re

from ember.train.loggers._tfevents import _event, _f_bytes, _f_varint


def _shape_proto(shape) -> bytes:
    return b"".join(_f_bytes(2, _f_varint(1, int(d))) for d in shape)


def _attr_entry(key: str, value: bytes) -> bytes:
    return _f_bytes(5, _f_bytes(1, key) + _f_bytes(2, value))


def _node_def(name, op, inputs, shape=None, info=None) -> bytes:
    body = _f_bytes(1, name) + _f_bytes(2, op)
    for i in inputs:
        body += _f_bytes(3, i)
    if shape is not None:
        body += _attr_entry("_output_shapes", _f_bytes(1, _f_bytes(7, _shape_proto(shape))))
    if info:
        body += _attr_entry("attr", _f_bytes(2, info))
    return body


def _op_name(fn) -> str:
    name = fn.name() if callable(getattr(fn, "name", None)) else type(fn).__name__
    return re.sub(r"Backward\d*$", "", str(name)) or str(name)


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def build_graph_def(model, input_array) -> bytes:
    """Serialized GraphDef of one forward pass of ``model`` on ``input_array`` (tensor or tuple)."""
    import ember
    from ember import Tensor

    root_name = type(model).__name__
    scope = {}  # id(grad_fn) -> module path
    keep = []  # keep recorded nodes alive (their ids are dict keys)
    handles = []
    in_fns = {}

    def pre(mod_path):
        def hook(mod, args):
            in_fns[id(mod)] = {id(a.grad_fn) for a in args if isinstance(a, Tensor) and a.grad_fn is not None}
        return hook

    def post(mod_path):
        def hook(mod, args, out):
            stop = in_fns.pop(id(mod), set())
            todo = [o.grad_fn for o in _as_tuple(out) if isinstance(o, Tensor) and o.grad_fn is not None]
            while todo:
                fn = todo.pop()
                if id(fn) in stop or id(fn) in scope:
                    continue
                scope[id(fn)] = mod_path
                keep.append(fn)
                for u, _ in getattr(fn, "next_functions", ()):
                    if u is not None and not hasattr(u, "variable"):
                        todo.append(u)
        return hook

    for name, mod in model.named_modules():
        path = root_name if not name else root_name + "/" + "/".join(
            f"{type(m).__name__}[{p}]" for p, m in _chain(model, name))
        handles.append(mod.register_forward_pre_hook(pre(path)))
        handles.append(mod.register_forward_hook(post(path)))
    inputs = tuple(x.detach().requires_grad_(x.is_floating_point()) if isinstance(x, Tensor) else x
                   for x in _as_tuple(input_array))
    try:
        with ember.enable_grad():
            out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    param_names = {id(p): n for n, p in model.named_parameters()}
    input_names = {id(x): f"input/input.{i}" for i, x in enumerate(inputs) if isinstance(x, Tensor)}
    nodes = []
    names = {}  # id(fn or leaf) -> node name
    counts = {}

    def leaf_name(t):
        key = id(t)
        if key in names:
            return names[key]
        if key in param_names:
            n = f"{root_name}/{param_names[key]}"
            nodes.append(_node_def(n, "Parameter", [], tuple(t.shape), f"{tuple(t.shape)} {t.dtype}"))
        elif key in input_names:
            n = input_names[key]
            nodes.append(_node_def(n, "IO Node", [], tuple(t.shape), f"{tuple(t.shape)} {t.dtype}"))
        else:
            n = f"{root_name}/constant.{len(names)}"
            nodes.append(_node_def(n, "Constant", [], tuple(t.shape)))
        names[key] = n
        return n

    outs = [o for o in _as_tuple(out) if isinstance(o, Tensor)]
    # topological order (inputs before consumers), iteratively
    order, seen = [], set()
    stack = [(o.grad_fn, False) for o in outs if o.grad_fn is not None]
    while stack:
        fn, done = stack.pop()
        if done:
            order.append(fn)
            continue
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        stack.append((fn, True))
        for u, _ in getattr(fn, "next_functions", ()):
            if u is not None and not hasattr(u, "variable") and id(u) not in seen:
                stack.append((u, False))
    out_shapes = {}
    for fn in order:
        for e in getattr(fn, "edges", ()) or ():
            if len(e) >= 6 and not e[2]:
                out_shapes.setdefault(id(e[1]), tuple(e[4]))
    for o in outs:
        if o.grad_fn is not None:
            out_shapes.setdefault(id(o.grad_fn), tuple(o.shape))
    for fn in order:
        op = _op_name(fn)
        sc = scope.get(id(fn), root_name)
        k = counts.get((sc, op), 0)
        counts[(sc, op)] = k + 1
        name = f"{sc}/{op}_{k}"
        ins = []
        nf = tuple(getattr(fn, "next_functions", ()))
        edges = {} if getattr(fn, "_shown_structure", False) else {
            e[0]: e for e in getattr(fn, "edges", ()) or () if isinstance(e, tuple) and len(e) >= 6}
        for j, (u, _) in enumerate(nf):
            var = getattr(u, "variable", None) if u is not None else None
            if isinstance(var, Tensor):
                ins.append(leaf_name(var))
            elif u is not None:
                ins.append(names[id(u)])
            elif j in edges and edges[j][2] and isinstance(edges[j][1], Tensor):
                ins.append(leaf_name(edges[j][1]))
        names[id(fn)] = name
        nodes.append(_node_def(name, op, ins, out_shapes.get(id(fn))))
    for i, o in enumerate(outs):
        src = names.get(id(o.grad_fn)) if o.grad_fn is not None else None
        nodes.append(_node_def(f"output/output.{i}", "IO Node", [src] if src else [], tuple(o.shape)))
    graph = b"".join(_f_bytes(1, n) for n in nodes) + _f_bytes(4, _f_varint(1, 22))
    return graph


def _chain(model, dotted):
    """(attribute name, module) pairs from the root to ``dotted``."""
    m = model
    out = []
    for part in dotted.split("."):
        m = getattr(m, part)
        out.append((part, m))
    return out


def graph_event(graph_def: bytes, wall_time: float) -> bytes:
    return _event(wall_time, 0, _f_bytes(4, graph_def))
