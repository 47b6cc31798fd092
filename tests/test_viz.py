"""ember.viz: make_dot against torchviz's walk over torch's graph, the DOT fallback, to_html, errors."""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

import ember
import ember.viz as viz


def _torchviz_structure(var, params):
    """torchviz's make_dot walk over torch's graph, reduced to labels: {id: label}, [(src, dst)]."""
    param_map = {id(v): k for k, v in params.items()}
    nodes, edges, seen = {}, [], set()

    def name_of(t):
        return "%s\n %s" % (param_map.get(id(t), ""), "(" + ", ".join("%d" % v for v in t.size()) + ")")

    def add_nodes(fn):
        if fn in seen:
            return
        seen.add(fn)
        if hasattr(fn, "variable"):
            nodes[id(fn.variable)] = name_of(fn.variable)
            edges.append((id(fn.variable), id(fn)))
        nodes[id(fn)] = type(fn).__name__
        for u, _ in fn.next_functions:
            if u is not None:
                edges.append((id(u), id(fn)))
                add_nodes(u)

    nodes[id(var)] = name_of(var)
    add_nodes(var.grad_fn)
    edges.append((id(var.grad_fn), id(var)))
    return nodes, edges


def _ember_structure(dot):
    """{id: label}, [(src, dst)] parsed back from DOT text (graphviz's or ember's own)."""
    src = dot.source
    nodes, edges = {}, []
    for m in re.finditer(r'^\t("?)([^\s"]+)\1 \[label=("(?:[^"\\]|\\.)*"|\S+) fillcolor=\S+\]$', src, re.M):
        lab = m.group(3)
        lab = lab[1:-1] if lab.startswith('"') else lab
        nodes[m.group(2)] = lab.replace("\\n", "\n").replace("\n", "\n")
    for m in re.finditer(r'^\t"?([^\s"]+)"? -> "?([^\s"]+)"?', src, re.M):
        edges.append((m.group(1), m.group(2)))
    return nodes, edges


def _canon(nodes, edges):
    norm = lambda s: re.sub(r"Backward\d*$", "Backward", s)  # torch numbers its backward classes
    return (Counter(norm(v) for v in nodes.values()),
            Counter((norm(nodes[a]), norm(nodes[b])) for a, b in edges))


def _program(L):
    x = L.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], requires_grad=True)
    w = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = ((x * w).sin() + x.exp()).sum()
    return y, {"x": x, "w": w}


@pytest.mark.parametrize("fallback", [False, True])
def test_make_dot_matches_torchviz_walk(fallback, monkeypatch):
    if fallback:
        monkeypatch.setitem(sys.modules, "graphviz", None)  # as if ember[viz] were not installed
    y, params = _program(ember)
    dot = viz.make_dot(y, params=params)
    if fallback:
        assert isinstance(dot, viz.DotGraph)
    else:
        import graphviz

        assert isinstance(dot, graphviz.Digraph)
    ty, tparams = _program(torch)
    want = _canon(*_torchviz_structure(ty, tparams))
    got = _canon(*_ember_structure(dot))
    assert got == want
    # labels: parameters by name and shape, the output by shape, ops by grad_fn.name()
    assert "x\n (2, 3)" in got[0] and "w\n (3)" in got[0] and "\n ()" in got[0]
    assert y.grad_fn.name() in dot.source
    assert dot.source.startswith("digraph {") and "size=" in dot.source


def test_make_dot_of_an_mlp_matches_torchviz():
    """The engine's real AccumulateGrad nodes (next_functions[i][0].variable) give torchviz's picture."""
    ember.manual_seed(0)
    torch.manual_seed(0)
    em = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.ReLU(), ember.nn.Linear(4, 2))
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    ey = em(ember.randn(5, 3)).pow(2).mean()
    ty = tm(torch.randn(5, 3)).pow(2).mean()
    addmm = ey.grad_fn.next_functions[0][0].next_functions[0][0]
    assert addmm.name() == "AddmmBackward0"  # ember's fused Linear shows torch's structure (issue 7)
    t_node = addmm.next_functions[2][0]
    assert t_node.name() == "TBackward0"
    acc = t_node.next_functions[0][0]
    assert acc.name() == "AccumulateGrad" and acc.variable is em[2].weight
    got = _canon(*_ember_structure(viz.make_dot(ey, params=dict(em.named_parameters()))))
    want = _canon(*_torchviz_structure(ty, dict(tm.named_parameters())))
    assert got == want
    assert got[0]["AccumulateGrad"] == 4  # one per parameter, none for the input (it does not require grad)


def test_make_dot_of_a_model_labels_every_parameter():
    ember.manual_seed(0)
    m = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.Tanh(), ember.nn.Linear(4, 2))
    out = m(ember.randn(5, 3))
    dot = viz.make_dot(out, params=dict(m.named_parameters()))
    nodes, edges = _ember_structure(dot)
    labels = Counter(nodes.values())
    for name, p in m.named_parameters():
        assert labels["%s\n (%s)" % (name, ", ".join(map(str, p.shape)))] == 1, name
    # every parameter reaches the output through the edges
    succ = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    out_id = [k for k, v in nodes.items() if v == "\n (5, 2)"][0]
    for nid, lab in nodes.items():
        if lab.split("\n")[0] in dict(m.named_parameters()):
            todo, reach = [nid], set()
            while todo:
                n = todo.pop()
                reach.add(n)
                todo.extend(s for s in succ.get(n, ()) if s not in reach)
            assert out_id in reach, lab


def test_show_saved_and_show_attrs(monkeypatch):
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = (x.exp() * 2).sum(1)
    plain = viz.make_dot(y).source
    saved = viz.make_dot(y, show_saved=True).source
    assert "orange" not in plain and "orange" in saved
    # saved_info() is what the engine reports; it is drawn with its label and shape, hovered with dtype/bytes
    fn = y.grad_fn.next_functions[0][0]
    monkeypatch.setattr(type(fn), "saved_info", lambda self: [("self", (2, 2), "float32", 16)], raising=False)
    s = viz.make_dot(y, show_saved=True).source
    assert "self\\n (2, 2)" in s or "self\n (2, 2)" in s
    g = viz._walk(y, None, False, True, 50, "t")
    det = [n["details"] for n in g.nodes.values() if n["kind"] == "saved" and n["details"]["bytes"] == 16]
    assert det and det[0]["dtype"] == "float32" and det[0]["shape"] == "(2, 2)"
    # show_attrs lists the op's non-tensor attributes under its name
    with_attrs = viz.make_dot(y, show_attrs=True).source
    assert re.search(r"keepdim\s*:\s*False", with_attrs)


def test_multiple_outputs_and_views():
    x = ember.ones(4, requires_grad=True)
    a, b = x * 2, x.sin()
    nodes, _ = _ember_structure(viz.make_dot((a, b), params={"x": x}))
    assert sum(v == "\n (4)" for v in nodes.values()) == 2
    assert sum(v == "AccumulateGrad" for v in nodes.values()) == 1  # one per leaf, as torch
    v = (x * 3)[1:]
    assert "dotted" in viz.make_dot(v).source  # the view's base drawn with a dotted edge, as torchviz


def test_nothing_to_draw_explains_why():
    leaf = ember.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="leaf.*grad_fn is None"):
        viz.make_dot(leaf)
    with ember.no_grad():
        y = leaf * 2
    with pytest.raises(ValueError, match="does not require grad.*no_grad"):
        viz.make_dot(y)
    with pytest.raises(TypeError, match="expected a Tensor"):
        viz.make_dot([1, 2])
    z = (leaf * 2).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="freed by backward.*retain_graph=True"):
        viz.make_dot(z)
    with pytest.raises(ValueError, match="leaf"):
        viz.to_html(leaf, "never.html")


def test_render_without_dot_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    dot = viz.make_dot((ember.ones(2, requires_grad=True) * 2).sum())
    with pytest.raises(RuntimeError, match="apt-get install graphviz.*to_html"):
        dot.render(str(tmp_path / "g"), format="png")
    p = dot.save("g.gv", str(tmp_path))
    assert Path(p).read_text() == dot.source


def test_to_html_is_self_contained_with_details(tmp_path):
    ember.manual_seed(0)
    lin = ember.nn.Linear(3, 2)
    with ember.autograd.detect_anomaly():
        out = lin(ember.randn(4, 3)).relu().sum()
    p = viz.to_html({"first": out, "second": lin(ember.randn(1, 3)).sum()}, tmp_path / "g.html",
                    params=dict(lin.named_parameters()))
    text = Path(p).read_text(encoding="utf-8")
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)  # only the SVG namespace URI
    data = json.loads(re.search(r"renderGraphs\(document.getElementById\('graphs'\), (.*)\);", text).group(1)
                      .replace("<\\/", "</"))
    assert [d["caption"] for d in data] == ["first", "second"]
    nodes = data[0]["graph"]["nodes"]
    ops = [n for n in nodes if n["kind"] == "op" and n["label"] != "AccumulateGrad"]
    assert all("op" in n["details"] for n in ops)
    assert any("test_viz.py" in n["details"].get("created at", "") for n in ops)  # anomaly mode's stack
    assert any(n["details"].get("saved bytes", 0) > 0 for n in ops)
    assert {n["details"].get("name") for n in nodes if n["kind"] == "leaf"} == {"weight", "bias"}
    # boxes do not overlap
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            assert (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or a["y"] + a["h"] <= b["y"]
                    or b["y"] + b["h"] <= a["y"]), (a["label"], b["label"])
