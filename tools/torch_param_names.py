"""Give ember's op functions torch's parameter names, keyword-only markers and ``out=``, in place.

    PYTHONPATH=src python tools/torch_param_names.py [--dry] [--no-out] [--no-kwonly] FILE...

For every public top-level ``def`` in FILE that ember exposes (as ``ember.<name>``, a ``Tensor``
method, or in ``ember.nn.functional`` / ``linalg`` / ``special`` / ``fft``), torch's signatures of
those names (tools/api_coverage.py: torch's type stubs, every overload) are compared with the def:

* a positional parameter torch names differently at the same position, the same in every overload
  and exposure, is renamed in the def line and everywhere in the body (the real parameter: no alias
  line, no wrapper; skipped, and reported, when torch's name is already used in the function or a
  nested ``lambda``/``def`` takes ember's name as its own parameter);
* trailing parameters that are keyword-only in every torch overload get torch's ``*``;
* a function whose torch counterpart takes ``out=`` gets ``*, out=None`` and a first statement
  ``if out is not None: return _out.into(out, "name", name, ...)`` (ember/_out.py).

Run the op tests after: an internal call passing a renamed parameter by keyword, or a now keyword-only
one by position, fails there (fix the caller). Functions made by factories (``_unary(...)``) are not
seen; rename their inner ``def`` by hand.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))


_spec = importlib.util.spec_from_file_location("api_coverage", os.path.join(ROOT, "tools", "api_coverage.py"))
cov = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cov)

P = inspect.Parameter
NAMESPACES = {"torch": "ember", "torch.Tensor": "ember.Tensor", "torch.nn.functional": "ember.nn.functional",
              "torch.linalg": "ember.linalg", "torch.special": "ember.special", "torch.fft": "ember.fft"}
# out= ops whose result dtype must equal out's (torch's matrix products and clamp)
EXACT = {"matmul", "mm", "bmm", "mv", "dot", "vdot", "addmm", "addbmm", "baddbmm", "addmv", "addr", "outer", "ger",
         "clamp", "clip", "inner", "kron", "tensordot", "cross"}


def exposures():
    """id(function) -> [(torch namespace, name)] for every public name ember binds to that function."""
    out = {}
    for ns, ens in NAMESPACES.items():
        eobj = cov._resolve(ens)
        tobj = cov._resolve(ns)
        for name in dir(eobj):
            if name.startswith("_") or not hasattr(tobj, name):
                continue
            try:
                o = inspect.getattr_static(eobj, name) if ns == "torch.Tensor" else getattr(eobj, name)
            except AttributeError:
                continue
            o = getattr(o, "__func__", o)
            if callable(o) and not isinstance(o, type):
                out.setdefault(id(o), []).append((ns, name))
    return out


def torch_sigs(expo):
    """[(namespace, overload params with a leading pseudo 'self' for Tensor methods)]."""
    res = []
    for ns, name in expo:
        tobj = getattr(cov._resolve(ns), name)
        for ov in cov.torch_overloads(ns, name, tobj):
            ov = [p for p in ov if not p.name.startswith("_")]
            if ns == "torch.Tensor":
                ov = [P("self", P.POSITIONAL_OR_KEYWORD)] + ov
            res.append((ns, ov))
    return res


def plan(node, sigs):
    """(renames {old: new}, first kw-only index or None, add_out, notes)."""
    args = node.args
    pos = args.posonlyargs + args.args
    names = [a.arg for a in pos]
    notes = []
    body_names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    inner_args = {a.arg for n in ast.walk(node) if isinstance(n, (ast.Lambda, ast.FunctionDef)) and n is not node
                  for a in n.args.posonlyargs + n.args.args + n.args.kwonlyargs}
    allnames = set(names) | {a.arg for a in args.kwonlyargs} | ({args.vararg.arg} if args.vararg else set())
    tpos = [[p.name for p in ov if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)] for _, ov in sigs]
    renames = {}
    for i, old in enumerate(names):
        cands = {tp[i] for tp in tpos if i < len(tp)} - {"self"}
        if not cands or old in cands:
            continue
        if len(cands) > 1:
            notes.append(f"{old}: torch's overloads name it {sorted(cands)}")
            continue
        new = cands.pop()
        if new in allnames or new in body_names:
            notes.append(f"{old}->{new}: '{new}' is already used in the function")
            continue
        if old in inner_args:
            notes.append(f"{old}->{new}: a nested function takes '{old}'")
            continue
        renames[old] = new
    # keyword-only markers: trailing positional parameters torch takes only by keyword
    kwonly_at = None
    if args.vararg is None:
        final = [renames.get(n, n) for n in names]
        kinds = {}
        for _, ov in sigs:
            for p in ov:
                kinds.setdefault(p.name, set()).add(p.kind)
        for i in range(len(final) - 1, 0, -1):
            k = kinds.get(final[i])
            if k is not None and k != {P.KEYWORD_ONLY}:
                break
            if k is None and pos[i] not in pos[len(pos) - len(args.defaults):]:
                break  # a required ember-only parameter stays positional
            kwonly_at = i
        if kwonly_at is not None and all(kinds.get(final[j]) is None for j in range(kwonly_at, len(final))):
            kwonly_at = None  # only ember's own extras: leave them
    takes = any(ns != "torch.Tensor" and any(p.name == "out" for p in ov) for ns, ov in sigs)
    add_out = takes and "out" not in allnames and args.kwarg is None
    return renames, kwonly_at, add_out, notes


def _header_span(lines, node):
    """Line numbers (0-based, inclusive) of the def header, decorators excluded."""
    start = node.lineno - 1
    first = node.body[0]
    end = first.lineno - 2
    while end > start and not lines[end].rstrip().endswith(":") and "):" not in lines[end] and "->" not in lines[end]:
        end -= 1
    return start, end


def process(path, dry=False, do_out=True, do_kwonly=True):
    src = open(path, encoding="utf-8").read()
    tree = ast.parse(src)
    lines = src.split("\n")
    modname = os.path.relpath(path, os.path.join(ROOT, "src"))[:-3].replace(os.sep, ".")
    if modname.endswith(".__init__"):
        modname = modname[: -len(".__init__")]
    mod = importlib.import_module(modname)
    expo = exposures()
    report = []
    jobs = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        fn = getattr(mod, node.name, None)
        if fn is None or id(fn) not in expo:
            continue
        sigs = torch_sigs(expo[id(fn)])
        if not sigs:
            continue
        renames, kwonly_at, add_out, notes = plan(node, sigs)
        if not do_kwonly:
            kwonly_at = None
        if not do_out:
            add_out = False
        if notes:
            report.append(f"SKIP {node.name}: {'; '.join(notes)}")
        if renames or kwonly_at is not None or add_out:
            jobs.append((node, renames, kwonly_at, add_out))
            report.append(f"EDIT {node.name}: renames={renames} kwonly_from={kwonly_at} out={add_out}")
        if kwonly_at is not None:
            CHANGED[node.name] = (kwonly_at, [renames.get(a.arg, a.arg) for a in node.args.posonlyargs + node.args.args],
                                  renames)
        elif renames:
            CHANGED[node.name] = (None, [renames.get(a.arg, a.arg) for a in node.args.posonlyargs + node.args.args],
                                  renames)
    if dry:
        return report
    edits = []  # (line0, col, old, new) renames in bodies
    header_repl = []  # (start, end, new_text_lines)
    inserts = []  # (line index to insert before, text)
    for node, renames, kwonly_at, add_out in jobs:
        a = node.args
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id in renames:
                edits.append((n.lineno - 1, n.col_offset, n.id, renames[n.id]))
        # the new header
        pos = a.posonlyargs + a.args
        for x in pos + a.kwonlyargs:
            x.arg = renames.get(x.arg, x.arg)
        if kwonly_at is not None:
            nd = len(a.defaults)
            first_default = len(pos) - nd
            moved = pos[kwonly_at:]
            mdefs = [a.defaults[j - first_default] if j >= first_default else None for j in range(kwonly_at, len(pos))]
            a.kwonlyargs = moved + a.kwonlyargs
            a.kw_defaults = mdefs + a.kw_defaults
            keep = pos[:kwonly_at]
            a.args = [x for x in a.args if x in keep]
            a.posonlyargs = [x for x in a.posonlyargs if x in keep]
            a.defaults = a.defaults[: max(0, len(keep) - first_default)] if len(keep) > first_default else []
        if add_out:
            a.kwonlyargs.append(ast.arg("out"))
            a.kw_defaults.append(ast.Constant(None))
        start, end = _header_span(lines, node)
        tail = lines[end].rstrip()
        comment = tail[tail.index("#"):] if "#" in tail and "):" in tail.split("#")[0] + "):" else ""
        returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        new_header = f"{indent}def {node.name}({ast.unparse(a)}){returns}:" + (f"  {comment}" if comment else "")
        header_repl.append((start, end, new_header))
        if add_out:
            body0 = node.body[0]
            has_doc = isinstance(body0, ast.Expr) and isinstance(body0.value, ast.Constant) and isinstance(
                body0.value.value, str)
            at = body0.end_lineno if has_doc else body0.lineno - 1
            bi = " " * (node.body[0].col_offset)
            call = [x.arg for x in a.posonlyargs + a.args]
            if a.vararg:
                call.append("*" + a.vararg.arg)
            call += [f"{x.arg}={x.arg}" for x in a.kwonlyargs if x.arg != "out"]
            exact = ", exact_dtype=True" if node.name in EXACT else ""
            inserts.append((at, f"{bi}if out is not None:\n{bi}    return _out.into(out, \"{node.name}\", {node.name}, "
                                f"{', '.join(call)}{exact})"))
    # apply: body renames first (they do not change line counts), then headers and inserts bottom-up
    for ln, col, old, new in sorted(edits, reverse=True):
        line = lines[ln]
        if ln in {x for s, e, _ in header_repl for x in range(s, e + 1)}:
            continue  # header lines are regenerated
        assert line[col:col + len(old)] == old, (path, ln + 1, line, old)
        lines[ln] = line[:col] + new + line[col + len(old):]
    ops = [(s, "header", (e, t)) for s, e, t in header_repl] + [(at, "insert", t) for at, t in inserts]
    for at, kind, payload in sorted(ops, key=lambda x: (x[0], x[1] == "header"), reverse=True):
        if kind == "header":
            end, text = payload
            lines[at:end + 1] = [text]
        else:
            lines.insert(at, payload)
    text = "\n".join(lines)
    if inserts and "import _out" not in text:
        level = modname.count(".")  # ember.x -> "from . import", ember._ops.x -> "from .. import"
        imp = "from " + "." * level + " import _out"
        t2 = ast.parse(text)
        last_import = max(n.end_lineno for n in t2.body if isinstance(n, (ast.Import, ast.ImportFrom)))
        tl = text.split("\n")
        tl.insert(last_import, imp)
        text = "\n".join(tl)
    ast.parse(text)  # still Python
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return report


CHANGED: dict = {}  # name -> (first keyword-only index or None, new positional names, renames)


def suspects(root):
    """Calls in ember's sources that may break: too many positional arguments for a function whose
    trailing parameters became keyword-only, or a keyword that was renamed. (Tensor method calls
    ``x.name(...)`` count one positional less; names shared with unrelated functions give false alarms.)"""
    out = []
    for dirpath, _, files in os.walk(root):
        for fname in files:
            if not fname.endswith(".py"):
                continue
            path = os.path.join(dirpath, fname)
            tree = ast.parse(open(path, encoding="utf-8").read())
            for n in ast.walk(tree):
                if not isinstance(n, ast.Call):
                    continue
                f = n.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if name not in CHANGED or any(isinstance(a, ast.Starred) for a in n.args):
                    continue
                if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in (
                        "np", "xp", "numpy", "cp", "cupy", "math", "builtins", "_np"):
                    continue  # NumPy's functions of the same name
                kw_at, names, renames = CHANGED[name]
                method = isinstance(f, ast.Attribute) and not (isinstance(f.value, ast.Name) and f.value.id in (
                    "_o", "_ops", "O", "ember", "torch", "_x", "E"))
                npos = len(n.args) + (1 if method else 0)
                if kw_at is not None and npos > kw_at:
                    out.append(f"{path}:{n.lineno}: {name}(...) passes {npos} positional arguments; "
                               f"from '{names[kw_at]}' on they are keyword-only now")
                for k in n.keywords:
                    if k.arg in renames:
                        out.append(f"{path}:{n.lineno}: {name}({k.arg}=...) is '{renames[k.arg]}' now")
    return out


def main(argv):
    flags = {a for a in argv if a.startswith("--")}
    for path in [a for a in argv if not a.startswith("--")]:
        for line in process(path, dry="--dry" in flags, do_out="--no-out" not in flags,
                            do_kwonly="--no-kwonly" not in flags):
            print(f"{path}: {line}")
    if "--dry" not in flags:
        for line in suspects(os.path.join(ROOT, "src", "ember")):
            print("CHECK", line)


if __name__ == "__main__":
    main(sys.argv[1:])
