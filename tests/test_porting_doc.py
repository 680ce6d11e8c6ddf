"""docs/porting.md's "Not supported yet" table stays honest: what it says is missing is missing.

Each row's "not yet" part is read: the feature column when the status starts with "not
yet" (or "not supported"), and in the status the text from "not yet" to the end of that
clause (``;`` or the end of a sentence), parenthesised remarks left out. Every backticked
API name found there (``torch.jit``, ``F.unfold``, ``nn.GRU``, ``Conv3d``, a bare name in a
row about one namespace such as ``torch.linalg``) must not resolve in tapegrad. When an
entry gets built, this test fails until the line is removed from the table.
"""
from __future__ import annotations

import importlib
import pathlib
import re

import pytest

import tapegrad

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "porting.md"

#: backticked words the table uses as context, not as claims that the name is missing
CONTEXT = {
    "cuda": "the device type in 'GPU / cuda device' (tapegrad.cuda answers for a CPU-only build)",
    "vmap": "the transform whose batching rules some ops lack; vmap itself exists",
    "sort": "named as an op that has a vmap rule", "argsort": "named as an op that has a vmap rule",
    "tril": "named as an op that has a vmap rule", "triu": "named as an op that has a vmap rule",
    "dim": "an argument name",
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _rows():
    text = DOC.read_text()
    section = text.split("## Not supported yet", 1)[1]
    rows = []
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("|---") or line.startswith("| Feature"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2:
            rows.append((cells[0], cells[1]))
    return rows


def _drop_parens(text):
    prev = None
    while prev != text:
        prev, text = text, re.sub(r"\([^()]*\)", "", text)
    return text


def _not_yet_parts(feature, status):
    parts = []
    lowered = status.lower()
    if lowered.startswith(("not yet", "not supported")):
        # a feature's parentheses list names ("(`torch.autocast`, `GradScaler`)") unless they are a
        # remark in words ("(so `optim.SparseAdam` refuses ...)")
        parts.append(re.sub(r"\((?!`)[^()]*\)", "", feature))
    for m in re.finditer(r"not yet:?(.*?)(?:;|\.\s|\.$|$)", _drop_parens(status)):
        parts.append(m.group(1))
    return parts


def _namespaces(feature):
    """``["tapegrad.linalg"]`` for a row about ``torch.linalg``: where its bare names may live."""
    return [f"tapegrad.{m}" for m in re.findall(r"`torch\.([a-z_]+)`", feature)]


def _resolve(path):
    """The object ``path`` (``tapegrad.nn.GRU``) names, or None."""
    head, *rest = path.split(".")
    obj = tapegrad
    done = "tapegrad"
    for attr in rest:
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            try:
                obj = importlib.import_module(f"{done}.{attr}")
            except ImportError:
                return None
        done = f"{done}.{attr}"
    return obj


def _candidates(token, namespaces):
    if token.startswith("torch."):
        return ["tapegrad." + token[len("torch."):]]
    if token.startswith("F."):
        return ["tapegrad.nn.functional." + token[2:]]
    if token.startswith("nn."):
        return ["tapegrad." + token]
    if token.startswith("Tensor."):
        return ["tapegrad." + token]
    found = [f"{ns}.{token}" for ns in namespaces]
    return found + [f"tapegrad.{token}", f"tapegrad.nn.{token}", f"tapegrad.nn.functional.{token}"]


def claimed_missing():
    """``(token, candidate paths)`` for every API name the table says is not there yet."""
    out = []
    for feature, status in _rows():
        ns = _namespaces(feature)
        for part in _not_yet_parts(feature, status):
            for token in re.findall(r"`([^`]+)`", part):
                token = token.removesuffix("()")
                if token in CONTEXT or not _NAME.match(token):
                    continue
                out.append((token, _candidates(token, ns)))
    return out


def test_the_table_is_found_and_names_missing_things():
    claims = claimed_missing()
    tokens = {t for t, _ in claims}
    assert len(_rows()) >= 5
    assert {"torch.jit", "torch.compile", "torch.autocast"} <= tokens, sorted(tokens)


@pytest.mark.parametrize("token,paths", claimed_missing(), ids=[t for t, _ in claimed_missing()])
def test_each_name_in_the_not_yet_table_is_missing(token, paths):
    present = [p for p in paths if _resolve(p) is not None]
    assert not present, f"docs/porting.md lists {token!r} as not yet supported, but {present[0]} exists"


def test_the_checker_sees_names_that_exist():
    """It can fail: names that exist resolve, and a fake table row about them would be flagged."""
    assert _resolve("tapegrad.nn.functional.linear") is not None
    assert _resolve("tapegrad.cuda.is_available") is not None
    assert _resolve("tapegrad.no_such_thing") is None
    parts = _not_yet_parts("`torch.cuda`, `F.linear`", "not yet")
    tokens = [t for p in parts for t in re.findall(r"`([^`]+)`", p)]
    assert all(_resolve(c) is not None for t in tokens for c in _candidates(t, [])[:1])
    assert _candidates("lu", ["tapegrad.linalg"])[0] == "tapegrad.linalg.lu"
