"""ember's API measured against torch's own namespaces (see tools/api_coverage.py).

Every public torch name is present in ember (with torch's parameter names, order and defaults where both
signatures are introspectable) or listed in src/ember/_compat_exclusions.txt; listed names raise a clear
NotImplementedError; docs/differences.md's generated section matches the file. ``pytest -s`` prints the
coverage per namespace; it is also written to build/api_coverage.md.
"""
import importlib.util
import os

import pytest

pytest.importorskip("torch")

import ember  # noqa: E402
from ember import _compat  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMESPACES = list(_compat.EMBER_NAMESPACE)


def _tool():
    spec = importlib.util.spec_from_file_location("api_coverage", os.path.join(ROOT, "tools", "api_coverage.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def tool():
    return _tool()


@pytest.fixture(scope="module")
def report(tool):
    rep = tool.collect()
    text = tool.table(rep)
    print("\nember API coverage against torch\n" + text)
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "api_coverage.md"), "w", encoding="utf-8") as f:
        f.write(text + "\n")
    return rep


@pytest.mark.parametrize("ns", NAMESPACES)
def test_every_public_torch_name_is_present_or_listed(report, ns):
    r = report[ns]
    assert r["total"] > 0
    assert len(r["present"]) + sum(len(v) for v in r["excluded"].values()) == r["total"]
    assert not r["missing"], (
        "\n".join(r["missing"]) + "\nImplement these, or list them in src/ember/_compat_exclusions.txt "
        "(python tools/api_coverage.py --sync lists them as not-yet)")


@pytest.mark.parametrize("ns", NAMESPACES)
def test_exclusion_file_stays_true(report, ns):
    problems = report[ns]["stale"] + report[ns]["unknown"] + report[ns]["outdated"]
    assert not problems, "\n".join(problems) + "\n(python tools/api_coverage.py --sync drops such lines)"


def test_differences_doc_is_generated_from_the_exclusion_file(tool, report):
    with open(tool.DOC, encoding="utf-8") as f:
        doc = f.read()
    assert doc == tool.doc_with(tool.render(report)), (
        "docs/differences.md is out of date: run `python tools/api_coverage.py --write`")


def _ember_obj(ns):
    return ember.Tensor if ns == "torch.Tensor" else importlib.import_module(_compat.EMBER_NAMESPACE[ns])


@pytest.mark.parametrize("ns", NAMESPACES)
def test_listed_names_raise_a_clear_not_implemented_error(ns):
    obj = _ember_obj(ns)
    targets = [obj, ember.zeros(2)] if ns == "torch.Tensor" else [obj]
    listed = [(n, c) for n, (c, _) in _compat.exclusions().get(ns, {}).items() if c != "signature"]
    for target in targets:
        for name, _cat in listed:
            with pytest.raises(NotImplementedError) as info:
                getattr(target, name)
            msg = str(info.value)
            assert f"{ns}.{name}" in msg and "not available in ember" in msg, msg
            assert _compat.CATEGORIES[_cat][1] in msg, msg  # why (GPU-only, sparse, ...)
            note = _compat.exclusions()[ns][name][1]
            assert not note or note[1:] in msg, msg  # and what to use instead, where the file says
            assert isinstance(info.value, AttributeError)  # hasattr()/getattr(default) keep working
            assert not hasattr(target, name)


def test_error_names_the_reason_and_the_alternative():
    with pytest.raises(NotImplementedError, match=r"torch\.complex32.*complex64 and complex128 \(no complex32"):
        _ = ember.complex32
    with pytest.raises(NotImplementedError, match=r"torch\.Tensor\.to_sparse.*no sparse layouts; use dense"):
        ember.ones(3).to_sparse()
    with pytest.raises(NotImplementedError, match=r"torch\.eig\b.*deprecated.*use linalg\.eig, which returns complex"):
        _ = ember.eig
    assert getattr(ember.nn.functional, "grouped_mm", None) is None


def test_unknown_names_stay_plain_attribute_errors():
    for target, label in [(ember, "module 'ember'"), (ember.nn.functional, "ember.nn.functional"),
                          (ember.zeros(1), "'Tensor' object")]:
        with pytest.raises(AttributeError, match=label) as info:
            _ = target.not_a_torch_name
        assert not isinstance(info.value, NotImplementedError)


def test_malformed_exclusion_line_is_reported(tmp_path, monkeypatch):
    bad = tmp_path / "_compat_exclusions.txt"
    bad.write_text("[torch]\nfoo  mystery-category\n")
    real_open = open

    def fake_open(path, *a, **k):
        return real_open(bad if str(path).endswith("_compat_exclusions.txt") else path, *a, **k)

    monkeypatch.setattr(_compat, "_cache", None)
    monkeypatch.setattr("builtins.open", fake_open)
    with pytest.raises(ValueError, match=r"_compat_exclusions.txt:2: expected 'name category"):
        _compat.exclusions()
    monkeypatch.undo()
    _compat._cache = None


def test_every_signature_difference_is_listed_with_its_reason(report):
    """A name whose parameters differ from torch's is listed as 'signature' with the differences (kept
    current by --sync) and, after ' -- ', why ember leaves them so."""
    for ns, names in _compat.exclusions().items():
        for name, (cat, note) in names.items():
            if cat == "signature":
                assert " -- " in note and note.split(" -- ", 1)[1].strip(), f"{ns}.{name}: give a reason after ' -- '"
                assert name in report[ns]["sig"], f"{ns}.{name}"
    print("\nnames whose parameters differ from torch's: " + ", ".join(
        f"{ns} {len(r['sig'])}" for ns, r in report.items() if r["sig"]))
