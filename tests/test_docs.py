"""The user guides in docs/ stay true to the code.

* Every ```python block of every docs/*.md runs as written: the blocks of one file run in order in one
  shared namespace, in a fresh temporary working directory. A block tagged ```python no-run is shown
  but not run (kept for snippets that need a user's data or the network).
* The Trainer flag table in docs/trainer.md lists exactly the parameters of ``Trainer.__init__``, and
  the guide names every public callback and logger.
* Every ``ember.x.y`` name written in backticks in the guides exists, and every relative link resolves.
"""
from __future__ import annotations

import importlib
import inspect
import linecache
import re
import threading
import warnings
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDES = ["autograd.md", "nn_and_optim.md", "data.md", "trainer.md", "checkpoints.md"]
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
KNOWN_TAGS = {"no-run"}


def _blocks(path: Path):
    """(first line number, tags, source) of each ```python block, in file order."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 2  # the block's first code line, 1-based
        out.append((line, m.group(1).split(), m.group(2)))
    return out


def _doc_files():
    return sorted(p.name for p in DOCS.glob("*.md"))


@pytest.mark.parametrize("name", _doc_files())
def test_python_blocks_run(name, tmp_path, monkeypatch):
    blocks = _blocks(DOCS / name)
    if not blocks:
        pytest.skip(f"{name} has no python blocks")
    if name == "trainer.md" and threading.current_thread() is not threading.main_thread():
        pytest.skip("the SIGTERM example needs the main thread (signal handlers are installed there only)")
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": f"docs_{Path(name).stem}"}
    ran = 0
    for line, tags, src in blocks:
        unknown = set(tags) - KNOWN_TAGS
        assert not unknown, f"{name}:{line}: unknown tag(s) {sorted(unknown)} on a python block (known: {KNOWN_TAGS})"
        if "no-run" in tags:
            compile(src, f"{name}:{line}", "exec")  # still valid Python
            continue
        filename = f"docs/{name}, block at line {line}"
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)  # tracebacks show the code
        code = compile(src, filename, "exec")
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # what a user sees; the suite's "error" filter is for library code
            exec(code, ns)
        ran += 1
    assert ran > 0


def test_guides_have_runnable_examples():
    for name in GUIDES:
        blocks = _blocks(DOCS / name)
        runnable = [b for b in blocks if "no-run" not in b[1]]
        assert len(runnable) >= 3, f"{name}: only {len(runnable)} runnable python blocks"
        assert len(blocks) - len(runnable) <= 2, f"{name}: use no-run sparingly"


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = text.find("\n## ", start + len(heading))
    return text[start:nxt if nxt != -1 else len(text)]


def test_trainer_flag_table_matches_the_signature():
    from ember.train import Trainer

    table = _section((DOCS / "trainer.md").read_text(encoding="utf-8"), "## Trainer flags")
    documented = re.findall(r"^\| `(\w+)`", table, re.M)
    params = [p for p in inspect.signature(Trainer.__init__).parameters if p != "self"]
    assert len(documented) == len(set(documented)), "a flag is listed twice"
    assert set(documented) == set(params), (
        f"missing from docs/trainer.md: {sorted(set(params) - set(documented))}; "
        f"not Trainer flags: {sorted(set(documented) - set(params))}")


def test_trainer_guide_names_every_callback_and_logger():
    import ember.train.callbacks as cbs
    import ember.train.loggers as lgs

    text = (DOCS / "trainer.md").read_text(encoding="utf-8")
    missing = [n for n in [*cbs.__all__, *lgs.__all__] if f"`{n}" not in text]
    assert not missing, f"docs/trainer.md does not mention {missing}"


def _resolve(dotted: str):
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


def test_ember_names_in_the_guides_exist():
    bad = []
    for name in GUIDES + ["index.md"]:
        text = (DOCS / name).read_text(encoding="utf-8")
        for dotted in sorted(set(re.findall(r"`(ember(?:\.[A-Za-z_]\w*)+)", text))):
            try:
                _resolve(dotted)
            except (ImportError, AttributeError):
                bad.append(f"{name}: {dotted}")
    assert not bad, f"names that do not exist: {bad}"


def _anchors(path: Path) -> set:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    heads = re.findall(r"^#+ (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_links_and_anchors_resolve_and_index_lists_every_page():
    for path in DOCS.glob("*.md"):
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", path.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            dest = path.parent / target if target else path
            assert dest.exists(), f"{path.name}: broken link {target}"
            if anchor and dest.suffix == ".md":
                assert anchor in _anchors(dest), f"{path.name}: no heading #{anchor} in {dest.name}"
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for name in _doc_files():
        if name != "index.md":
            assert f"({name})" in index, f"docs/index.md does not link {name}"


def test_block_extraction():
    md = "x\n```python\na = 1\n```\n```python no-run\nb = 2\n```\n```bash\nls\n```\n"
    found = [(m.group(1).split(), m.group(2)) for m in FENCE.finditer(md)]
    assert found == [([], "a = 1\n"), (["no-run"], "b = 2\n")]
