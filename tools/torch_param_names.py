"""Give ember's op functions torch's parameter names, so ``torch.sum(input=t, dim=0)`` style calls work.

For every public top-level function in the given files that ember exposes as ``ember.<name>`` or
``Tensor.<name>``, torch's overloads (``inspect.signature``, else the signature lines of the
docstring) are aligned position by position with ember's positional parameters; where ember
names a parameter differently (``x`` for ``input``, ``a``/``b`` for ``input``/``other``) the def
line takes torch's name and the body starts with an alias line ``x = input  # torch's parameter
names``, so the body is untouched. Renames are skipped when torch's overloads disagree on a
position, when some overload already uses ember's name, or when torch's name is taken or used
in the body (all reported). Functions made by factories (``_unary(...)``) are not seen: rename
their generated ``def`` by hand.

    PYTHONPATH=src python tools/torch_param_names.py src src/ember/_ops/*.py

It edits the files in place; run the tests after (internal calls passing ``x=`` by keyword break).
On the pre-split ``_ops.py`` it renamed 118 functions and the op, tensor, autograd, nn and compat
tests passed unchanged.
"""
import ast
import inspect
import re
import sys

sys.path.insert(0, sys.argv[1])
import ember  # noqa: E402
import torch  # noqa: E402


def torch_overloads(obj, name):
    try:
        sig = inspect.signature(obj)
        ps = []
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                break
            if p.kind == p.KEYWORD_ONLY:
                break
            ps.append(p.name)
        return [ps]
    except (TypeError, ValueError):
        pass
    doc = obj.__doc__ or ""
    outs = []
    for m in re.finditer(r"^(?:\.\. function:: )?" + re.escape(name) + r"\((.*?)\)\s*->", doc, re.M):
        params = []
        for part in m.group(1).replace("\\*", "*").split(","):
            part = part.strip()
            if not part:
                continue
            if part == "*" or part.startswith("*"):
                break
            if part == "/":
                continue
            nm = part.split("=")[0].strip().split(":")[0].strip()
            if not nm.isidentifier():
                break
            params.append(nm)
        outs.append(params)
    return outs

def plan(fn_node, tname_lists, n_fn=None):
    args = fn_node.args
    pos = args.posonlyargs + args.args
    names = [a.arg for a in pos]
    allnames = set(names) | {a.arg for a in args.kwonlyargs}
    body_names = {n.id for n in ast.walk(fn_node) if isinstance(n, ast.Name)}
    renames = {}
    conflicts = set()
    fixed = set()
    for k, ov in enumerate(tname_lists):
        is_fn = n_fn is None or k < n_fn
        for i, tn in enumerate(ov):
            if i >= len(names) or tn == "self":
                continue
            old = names[i]
            if not is_fn and old in fixed:
                continue  # torch.<fn> overloads name it already; Tensor docstrings are looser
            if old == tn:
                if is_fn:
                    fixed.add(old)
                continue
            if old in renames and renames[old] != tn:
                conflicts.add(old)
            renames.setdefault(old, tn)
            if is_fn:
                fixed.add(old)
    out = {}
    skipped = []
    keep = {names[i] for ov in tname_lists for i, tn in enumerate(ov) if i < len(names) and names[i] == tn}
    for old, new in renames.items():
        if old in keep:
            continue  # some overload already uses ember's name (max(input, dim) vs max(input, other))
        if old in conflicts:
            skipped.append(f"{old}->? (overloads disagree)")
            continue
        if new in allnames:
            skipped.append(f"{old}->{new} (name taken)")
            continue
        if new in body_names:
            skipped.append(f"{old}->{new} (name used in body)")
            continue
        out[old] = new
    return out, skipped

def process(path):
    src = open(path).read()
    tree = ast.parse(src)
    lines = src.split("\n")
    edits = []  # (lineno, col, old, new) for def params; (insert_after_line, text)
    inserts = []
    report = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        name = node.name
        ovs = []
        eobj = getattr(ember, name, None)
        tobj = getattr(torch, name, None)
        if tobj is not None and callable(tobj) and eobj is not None:
            ovs += torch_overloads(tobj, name)
        n_fn = len(ovs)
        tm = getattr(torch.Tensor, name, None)
        if tm is not None and getattr(ember.Tensor, name, None) is not None and callable(tm):
            for ov in torch_overloads(tm, name):
                ovs.append(["self"] + [p for p in ov if p != "self"])
        if not ovs:
            continue
        ren, skipped = plan(node, ovs, n_fn)
        if skipped:
            report.append(f"SKIP {name}: {skipped}")
        if not ren:
            continue
        for a in node.args.posonlyargs + node.args.args:
            if a.arg in ren:
                edits.append((a.lineno, a.col_offset, a.arg, ren[a.arg]))
        body0 = node.body[0]
        first = node.body[1] if (isinstance(body0, ast.Expr) and isinstance(getattr(body0, "value", None), ast.Constant)
                                  and isinstance(body0.value.value, str) and len(node.body) > 1) else body0
        if first is body0 and isinstance(body0, ast.Expr) and isinstance(body0.value, ast.Constant):
            first = None  # docstring only
        indent = " " * (first.col_offset if first is not None else node.body[0].col_offset)
        alias = indent + ", ".join(ren) + " = " + ", ".join(ren[o] for o in ren) + "  # torch's parameter names"
        at = (first.lineno - 1) if first is not None else node.body[0].end_lineno
        inserts.append((at, alias))
        report.append(f"RENAME {name}: {ren}")
    for ln, col, old, new in sorted(edits, reverse=True):
        line = lines[ln - 1]
        assert line[col:col + len(old)] == old, (path, ln, line, old)
        lines[ln - 1] = line[:col] + new + line[col + len(old):]
    for at, text in sorted(inserts, reverse=True):
        lines.insert(at, text)
    open(path, "w").write("\n".join(lines))
    return report

for f in sys.argv[2:]:
    for r in process(f):
        print(f, r)
