"""Pictures of the autograd graph: torchviz's ``make_dot`` and a self-contained HTML viewer.

``make_dot(output)`` walks the graph that ``output.backward()`` would walk, from ``output.grad_fn``
through ``next_functions``, and draws one box per recorded backward op (named by ``grad_fn.name()``),
one light-blue box per leaf tensor (labelled with its name from ``params`` and its shape) behind an
``AccumulateGrad`` box, as torch draws them, and, with ``show_saved=True``, one orange box per value the
op saved for backward (shape, dtype, bytes). The result is a ``graphviz.Digraph`` when the ``graphviz``
package is installed (``pip install ember[viz]``); otherwise a small object with the same ``.source``
(DOT text) and ``.render()``.

``to_html(output, path)`` writes the same graph as one HTML file that needs no server and no network:
pan with the mouse, zoom with the wheel, and hover a box for its details (op, shapes, dtypes, saved
bytes, and the line that created it when anomaly mode was on). Give a dict ``{caption: output}`` to
draw several graphs side by side (e.g. two iterations of a dynamic network).
"""
from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from ._tensor import Tensor

__all__ = ["make_dot", "to_html", "DotGraph"]

_INTERNAL = {"inputs", "edges", "out_ref", "rec_clock", "stack", "freed", "pre_hooks", "needs", "saved",
             "saved_values", "n_out"}
_NODE_ATTR = dict(style="filled", shape="box", align="left", fontsize="10", ranksep="0.1", height="0.2",
                  fontname="monospace")


# ---------------------------------------------------------------------------- the walk


def _size_to_str(shape):
    return "(" + ", ".join("%d" % v for v in shape) + ")"


def _dtype_name(dt):
    s = str(dt)
    return s.split(".")[-1]


def _fn_name(fn):
    name = getattr(fn, "name", None)
    if callable(name):
        try:
            return str(name())
        except Exception:  # noqa: BLE001  - a node mid-free still gets a box
            pass
    return type(fn).__name__


def _check_output(var, who):
    if not isinstance(var, Tensor):
        raise TypeError(f"{who}: expected a Tensor (or a tuple of Tensors) that came out of recorded operations, "
                        f"got {type(var).__name__}")
    if var.grad_fn is not None:
        return
    if var.requires_grad:
        raise ValueError(
            f"{who}: there is no graph to draw: this tensor (shape {_size_to_str(var.shape)}) is a leaf: it was "
            "created directly (requires_grad=True), not computed by recorded operations, so its grad_fn is None. "
            "Draw the result of a computation on it instead, e.g. make_dot(model(x)) or make_dot(loss)."
        )
    raise ValueError(
        f"{who}: there is no graph to draw: this tensor (shape {_size_to_str(var.shape)}) does not require grad, "
        "so nothing was recorded for it. It was computed under no_grad()/inference_mode(), or detached, or from "
        "tensors none of which has requires_grad=True. Compute it with grad enabled from a tensor (or a model's "
        "parameters) that requires grad."
    )


def _saved(fn):
    """[(label, shape, dtype_name, nbytes)] of the values ``fn`` keeps for backward."""
    info = getattr(fn, "saved_info", None)
    if callable(info):
        try:
            return [tuple(x) for x in info()]
        except Exception:  # noqa: BLE001  - a freed node has nothing saved
            return []
    out = []
    d = getattr(fn, "__dict__", {})
    if getattr(fn, "needs_inputs", False):
        for i, x in enumerate(d.get("inputs", ()) or ()):
            if isinstance(x, Tensor):
                a = x._data
                out.append((f"input{i}", tuple(a.shape), _dtype_name(a.dtype), int(a.nbytes)))
    if getattr(fn, "needs_out", False) and d.get("out_ref") is not None:
        t = d["out_ref"]()
        if t is not None:
            a = t._data
            out.append(("result", tuple(a.shape), _dtype_name(a.dtype), int(a.nbytes)))
    return out


def _attrs(fn):
    """Non-tensor attributes the op stored for its backward (torch's ``_saved_*`` scalars)."""
    out = {}
    for k, v in sorted(getattr(fn, "__dict__", {}).items()):
        if k.startswith("_") or k in _INTERNAL or isinstance(v, (Tensor, np.ndarray)) or callable(v):
            continue
        if isinstance(v, (int, float, str, bool, tuple, list, type(None), np.dtype, np.generic)):
            out[k] = str(v)
    return out


def _fn_label(fn, show_attrs, max_attr_chars):
    # torchviz's get_fn_name
    name = _fn_name(fn)
    if not show_attrs:
        return name
    attrs = _attrs(fn)
    if not attrs:
        return name
    max_attr_chars = max(max_attr_chars, 3)
    col1 = max(len(k) for k in attrs)
    col2 = min(max(len(v) for v in attrs.values()), max_attr_chars)
    sep = "-" * max(col1 + col2 + 2, len(name))
    trunc = lambda s: s[:col2 - 3] + "..." if len(s) > col2 else s
    return name + "\n" + sep + "\n" + "\n".join(f"{k:<{col1}}: {trunc(v):>{col2}}" for k, v in attrs.items())


class _Graph:
    """Nodes and edges in drawing order, plus details for the HTML viewer."""

    def __init__(self):
        self.nodes = {}  # id -> dict(label, fill, kind, details)
        self.edges = []  # (src, dst, attrs)

    def node(self, nid, label, fill, kind, details=None):
        if nid not in self.nodes:
            self.nodes[nid] = {"label": label, "fill": fill, "kind": kind, "details": details or {}}
        return self.nodes[nid]

    def edge(self, a, b, **attrs):
        self.edges.append((a, b, attrs))


def _walk(var, params, show_attrs, show_saved, max_attr_chars, who):
    if params is not None:
        if not isinstance(params, dict):
            raise TypeError(f"{who}: params must be a dict name -> Tensor (e.g. dict(model.named_parameters())), "
                            f"got {type(params).__name__}")
        for k, v in params.items():
            if not isinstance(v, Tensor):
                raise TypeError(f"{who}: params[{k!r}] is a {type(v).__name__}, not a Tensor")
        param_map = {id(v): k for k, v in params.items()}
    else:
        param_map = {}
    outs = list(var) if isinstance(var, (tuple, list)) else [var]
    if not outs:
        raise ValueError(f"{who}: got an empty tuple of outputs; there is nothing to draw")
    for v in outs:
        _check_output(v, who)
    g = _Graph()
    seen = set()
    out_info = {}  # id(fn) -> {out_idx: (shape, dtype)} learned from the consumers' edges

    def var_label(t, name=None):
        if not name:
            name = param_map.get(id(t), "")
        return "%s\n %s" % (name, _size_to_str(t.shape))

    def tensor_details(t, role):
        d = {"role": role, "shape": _size_to_str(t.shape), "dtype": _dtype_name(t.dtype),
             "bytes": int(t._data.nbytes)}
        if id(t) in param_map:
            d = {"name": param_map[id(t)], **d}
        return d

    def add_leaf(t, consumer):
        """A leaf reached through a ``None`` entry of next_functions: draw it behind an AccumulateGrad box."""
        acc = "acc" + str(id(t))
        if acc not in g.nodes:
            g.node(acc, "AccumulateGrad", "lightgray", "op", {"op": "AccumulateGrad",
                                                               "outputs": [_size_to_str(t.shape)],
                                                               "dtypes": [_dtype_name(t.dtype)]})
            g.node(str(id(t)), var_label(t), "lightblue", "leaf", tensor_details(t, "leaf (parameter or input)"))
            g.edge(str(id(t)), acc)
        g.edge(acc, str(id(consumer)))

    stack = []

    def visit(fn):
        if fn in seen:
            return
        seen.add(fn)
        stack.append(fn)

    for v in outs:
        if v.grad_fn is not None:
            fn = v.grad_fn
            out_info.setdefault(id(fn), {})[getattr(v, "_out_idx", 0)] = (tuple(v.shape), _dtype_name(v.dtype))
    # iterative walk (graphs of long loops exceed the recursion limit)
    order = []
    for v in outs:
        visit(v.grad_fn)
    while stack:
        fn = stack.pop()
        order.append(fn)
        if getattr(fn, "freed", False):
            raise RuntimeError(
                f"{who}: the graph was already freed by backward() (through {_fn_name(fn)}), so its structure is "
                "gone. Draw it before calling backward(), or call backward(retain_graph=True)."
            )
        variable = getattr(fn, "variable", None)
        if isinstance(variable, Tensor):
            seen.add(id(variable))
            g.node(str(id(variable)), var_label(variable), "lightblue", "leaf",
                   tensor_details(variable, "leaf (parameter or input)"))
            g.edge(str(id(variable)), str(id(fn)))
        if show_saved:
            for k, (label, shape, dtype, nbytes) in enumerate(_saved(fn)):
                sid = f"saved{id(fn)}_{k}"
                g.node(sid, "%s\n %s" % (label, _size_to_str(shape)), "orange", "saved",
                       {"role": f"saved for backward by {_fn_name(fn)}", "shape": _size_to_str(shape),
                        "dtype": dtype, "bytes": int(nbytes)})
                g.edge(str(id(fn)), sid, dir="none")
        nf = tuple(getattr(fn, "next_functions", ()) or ())
        edges = getattr(fn, "edges", None)
        # the engine's edges list only the inputs that need grad, each led by its input index
        by_input = {}
        # a fused node showing torch's structure (Linear: bias, x, TBackward0(W)) lists inputs in torch's order
        if isinstance(edges, (tuple, list)) and not getattr(fn, "_shown_structure", False):
            for e in edges:
                if isinstance(e, tuple) and e and isinstance(e[0], int):
                    by_input.setdefault(e[0], e)
        ins = []
        for k, entry in enumerate(nf):
            u = entry[0] if isinstance(entry, tuple) else entry
            e = by_input.get(k)
            if e is not None and len(e) >= 6:
                ins.append((_size_to_str(e[4]), _dtype_name(e[5])))
                if u is not None:
                    out_info.setdefault(id(u), {})[e[3]] = (tuple(e[4]), _dtype_name(e[5]))
            if u is not None:
                g.edge(str(id(u)), str(id(fn)))
                visit(u)
            elif e is not None and e[2] and isinstance(e[1], Tensor):
                add_leaf(e[1], fn)
        g.node(str(id(fn)), _fn_label(fn, show_attrs, max_attr_chars), "lightgray", "op", None)
        g.nodes[str(id(fn))]["_fn"] = fn
        g.nodes[str(id(fn))]["_ins"] = ins
    for fn in order:
        nd = g.nodes[str(id(fn))]
        info = out_info.get(id(fn), {})
        det = {"op": _fn_name(fn)}
        if info:
            det["outputs"] = [_size_to_str(info[i][0]) for i in sorted(info)]
            det["dtypes"] = [info[i][1] for i in sorted(info)]
        if nd.pop("_ins"):
            pass
        saved = _saved(fn)
        if saved:
            det["saved"] = [f"{lab} {_size_to_str(s)} {dt} {nb} bytes" for lab, s, dt, nb in saved]
            det["saved bytes"] = int(sum(x[3] for x in saved))
        attrs = _attrs(fn)
        if attrs:
            det["attributes"] = [f"{k}={v}" for k, v in attrs.items()]
        stack_txt = getattr(fn, "stack", None)
        if stack_txt:
            det["created at"] = str(stack_txt)
        nd["details"] = det
        nd.pop("_fn", None)
    # the outputs themselves (and the tensors they are views of), as torchviz draws them
    for v in outs:
        oid = str(id(v))
        if oid in g.nodes:
            continue
        g.node(oid, var_label(v), "darkolivegreen1", "output", tensor_details(v, "output"))
        g.edge(str(id(v.grad_fn)), oid)
        base = getattr(v, "_base", None)
        if isinstance(base, Tensor) and base.grad_fn is not None:
            bid = str(id(base))
            if bid not in g.nodes:
                g.node(bid, var_label(base), "darkolivegreen3", "output", tensor_details(base, "base of a view"))
                g.edge(str(id(base.grad_fn)), bid)
            g.edge(bid, oid, style="dotted")
    return g


# ---------------------------------------------------------------------------- DOT output


def _quote(s):
    # as the graphviz package writes it: newlines stay literal inside the quotes
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _attr_str(attrs):
    return " ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


class DotGraph:
    """What ``make_dot`` returns without the ``graphviz`` package: the DOT text in ``.source`` and a
    ``render()`` that runs Graphviz's ``dot`` program (like ``graphviz.Digraph``'s)."""

    def __init__(self, node_attr=None, graph_attr=None):
        self.node_attr = dict(node_attr or {})
        self.graph_attr = dict(graph_attr or {})
        self.body = []
        self.format = "pdf"

    def node(self, name, label=None, **attrs):
        if label is not None:
            attrs = {"label": label, **attrs}
        self.body.append(f"\t{_quote(name)} [{_attr_str(attrs)}]\n" if attrs else f"\t{_quote(name)}\n")

    def edge(self, tail, head, **attrs):
        a = f" [{_attr_str(attrs)}]" if attrs else ""
        self.body.append(f"\t{_quote(tail)} -> {_quote(head)}{a}\n")

    @property
    def source(self):
        lines = ["digraph {\n"]
        if self.graph_attr:
            lines.append(f"\tgraph [{_attr_str(self.graph_attr)}]\n")
        if self.node_attr:
            lines.append(f"\tnode [{_attr_str(self.node_attr)}]\n")
        lines.extend(self.body)
        lines.append("}\n")
        return "".join(lines)

    def __str__(self):
        return self.source

    def save(self, filename="Digraph.gv", directory=None):
        path = os.path.join(directory, filename) if directory else filename
        _atomic_write(path, self.source)
        return path

    def pipe(self, format=None):  # noqa: A002  (graphviz's name)
        fmt = format or self.format
        dot = _dot_program()
        r = subprocess.run([dot, f"-T{fmt}"], input=self.source.encode(), capture_output=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"DotGraph: Graphviz's dot failed: {r.stderr.decode(errors='replace').strip()}")
        return r.stdout

    def render(self, filename="Digraph.gv", directory=None, view=False, cleanup=False, format=None,  # noqa: A002
               outfile=None):
        """Write the DOT file and ``<file>.<format>`` next to it (``format`` defaults to ``self.format``,
        'pdf'); returns the picture's path. Needs Graphviz's ``dot`` program on PATH."""
        fmt = format or self.format
        if outfile is not None:
            out = str(outfile)
            fmt = format or os.path.splitext(out)[1].lstrip(".") or fmt
            gv = os.path.splitext(out)[0] + ".gv"
        else:
            gv = os.path.join(directory, filename) if directory else str(filename)
            out = f"{gv}.{fmt}"
        data = self.pipe(fmt)
        if not cleanup:
            self.save(os.path.basename(gv), os.path.dirname(gv) or None)
        _atomic_write(out, data)
        return out

    def _repr_svg_(self):
        try:
            return self.pipe("svg").decode()
        except RuntimeError:
            return None


def _dot_program():
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            "make_dot(...).render(): Graphviz's 'dot' program was not found on PATH, and it is what turns the DOT "
            "text into a picture. Install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
            "graphviz; conda: conda install graphviz), or paste .source into any Graphviz viewer, or use "
            "ember.viz.to_html(output, 'graph.html'), which needs nothing installed."
        )
    return dot


def _atomic_write(path, data):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _digraph_class():
    try:
        import graphviz
    except ImportError:
        return DotGraph
    return graphviz.Digraph


def make_dot(var, params=None, show_attrs=False, show_saved=False, max_attr_chars=50):
    """Draw the autograd graph behind ``var`` (a tensor or a tuple of tensors), like torchviz's make_dot.

    ``params``: a dict name -> tensor (``dict(model.named_parameters())``) to label leaves by name.
    ``show_attrs``: list the non-tensor attributes each op stored for backward under its name.
    ``show_saved``: add an orange box for every value an op saved for backward (shape; hover details in
    ``to_html`` add dtype and bytes). Returns a ``graphviz.Digraph`` when the ``graphviz`` package is
    installed (``pip install ember[viz]``), else a :class:`DotGraph`; both have ``.source`` and ``.render()``.
    """
    g = _walk(var, params, show_attrs, show_saved, max_attr_chars, "make_dot")
    cls = _digraph_class()
    dot = cls(node_attr=dict(_NODE_ATTR), graph_attr=dict(size="12,12"))
    for nid, nd in g.nodes.items():
        dot.node(nid, nd["label"], fillcolor=nd["fill"])
    for a, b, attrs in g.edges:
        dot.edge(a, b, **attrs)
    # torchviz's resize_graph
    size = max(12, len(dot.body) * 0.15)
    dot.graph_attr.update(size=f"{size},{size}")
    return dot


# ---------------------------------------------------------------------------- HTML


def _layout(g):
    """Layered layout: inputs at the top, outputs at the bottom; order within a layer by barycenters."""
    from ._html import text_size

    ids = list(g.nodes)
    preds = {n: [] for n in ids}
    succs = {n: [] for n in ids}
    for a, b, attrs in g.edges:
        if attrs.get("dir") == "none":  # saved value: drawn beside its op, one layer above
            a, b = b, a
        if a in preds and b in preds:
            succs[a].append(b)
            preds[b].append(a)
    # longest path from the outputs, upwards: rank 0 = outputs
    depth = {n: 0 for n in ids}
    indeg = {n: len(succs[n]) for n in ids}
    ready = [n for n in ids if indeg[n] == 0]
    while ready:
        n = ready.pop()
        for p in preds[n]:
            depth[p] = max(depth[p], depth[n] + 1)
            indeg[p] -= 1
            if indeg[p] == 0:
                ready.append(p)
    top = max(depth.values()) if depth else 0
    rank = {n: top - depth[n] for n in ids}
    layers = [[] for _ in range(top + 1)]
    for n in ids:
        layers[rank[n]].append(n)
    pos = {}
    for layer in layers:
        for i, n in enumerate(layer):
            pos[n] = i
    for sweep in range(4):
        rng = range(1, len(layers)) if sweep % 2 == 0 else range(len(layers) - 2, -1, -1)
        for r in rng:
            nb = preds if sweep % 2 == 0 else succs
            def key(n, nb=nb):
                ps = [pos[p] for p in nb[n]]
                return sum(ps) / len(ps) if ps else pos[n]
            layers[r].sort(key=key)
            for i, n in enumerate(layers[r]):
                pos[n] = i
    sizes = {}
    for n in ids:
        w, h = text_size(g.nodes[n]["label"])
        sizes[n] = (w + 16, h + 10)
    gap_x, gap_y = 24, 46
    widths = [sum(sizes[n][0] for n in layer) + gap_x * max(len(layer) - 1, 0) for layer in layers]
    total_w = max(widths) if widths else 0
    y = 10
    out = {}
    for layer, w in zip(layers, widths):
        x = (total_w - w) / 2 + 10
        hmax = max((sizes[n][1] for n in layer), default=0)
        for n in layer:
            out[n] = (x, y + (hmax - sizes[n][1]) / 2, sizes[n][0], sizes[n][1])
            x += sizes[n][0] + gap_x
        y += hmax + gap_y
    return out, total_w + 20, y - gap_y + 10


def _graph_json(g):
    lay, w, h = _layout(g)
    nodes = []
    for nid, nd in g.nodes.items():
        x, y, nw, nh = lay[nid]
        nodes.append({"id": nid, "label": nd["label"], "fill": nd["fill"], "kind": nd["kind"],
                      "details": nd["details"], "x": x, "y": y, "w": nw, "h": nh})
    edges = [{"from": a, "to": b, "style": attrs.get("style", ""), "arrow": attrs.get("dir") != "none"}
             for a, b, attrs in g.edges]
    return {"nodes": nodes, "edges": edges, "width": w, "height": h}


def to_html(output, path, params=None, show_saved=True, title="ember autograd graph"):
    """Write the autograd graph behind ``output`` as one self-contained HTML file (no server, no network).

    ``output``: a tensor, a tuple of tensors (one graph with several outputs), or a dict
    ``{caption: tensor}`` to draw several graphs side by side. ``params`` labels leaves by name.
    Returns ``path``."""
    from ._html import page

    if isinstance(output, dict):
        if not output:
            raise ValueError("to_html: got an empty dict of outputs; there is nothing to draw")
        panels = [(str(k), v) for k, v in output.items()]
    else:
        panels = [("", output)]
    data = []
    for caption, v in panels:
        g = _walk(v, params, False, show_saved, 50, "to_html")
        data.append({"caption": caption, "graph": _graph_json(g)})
    body = ('<div id="graphs" class="panels"></div>\n'
            '<p class="hint">drag to pan, wheel to zoom, double-click to reset; hover a box for details</p>')
    script = "EmberView.renderGraphs(document.getElementById('graphs'), " + json.dumps(data) + ");"
    _atomic_write(str(path), page(html.escape(title), body, script))
    return path
