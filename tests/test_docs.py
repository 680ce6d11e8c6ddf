"""The documentation runs: every ```python block of README.md and docs/*.md is executed.

Rules the docs follow (and this test enforces):

* Each Markdown file's ```python blocks run in order, in one namespace, in a fresh
  interpreter (``PYTHONPATH=src``) whose working directory is an empty temporary folder.
  A block that raises fails the test; the blocks after it still run and are reported.
  Each block is compiled as the file ``example.py`` with its own line numbers, so a
  message that names a source line (tapegrad's in-place error) reads as it would for a
  user who saved the block as ``example.py``.
* Warnings are errors: an example that shows a warning catches it itself.
* Printed output is checked in one of two ways:

  - a ```text block that follows a ```python block with only blank lines between them is
    the complete stdout of that python block;
  - otherwise, ``# -> value`` comments: the block's stdout must be exactly those values,
    one line each, in order (put them on ``print`` lines).

  In both, ``...`` matches anything (doctest's ELLIPSIS) and trailing spaces are ignored.
* Blocks in other languages (```bash, ```text, ...) are not run. There is no way to mark a
  python block "do not run": an example that cannot run here (a download, a GPU) must not
  be a ```python block. ```py / ```python3 / ```pycon are refused so nothing slips by.
* Relative links between the documents point at files that exist, and ``#anchors`` at
  headings that exist (GitHub's heading ids).
"""
from __future__ import annotations

import doctest
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
DOCS = [p for p in DOCS if p.exists()]

EXPECT_MARK = "# -> "
REFUSED_LANGS = {"py", "python3", "pycon", "ipython", "py3"}
TIMEOUT_S = 60

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


class Block:
    def __init__(self, lang, line, code):
        self.lang, self.line, self.code = lang, line, code  # line: of the first code line
        self.expected = None  # expected stdout (str) or None: not checked
        self.source = None    # "text block" or "# -> comments"


def parse(path: pathlib.Path):
    """Fenced blocks of a Markdown file, in order: [(lang, first_code_line, code, end_line)]."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith(fence[0] * len(fence)):
            j += 1
        body = [ln[len(indent):] if ln.startswith(indent) else ln for ln in lines[start:j]]
        blocks.append((lang, start + 1, "\n".join(body) + "\n", j + 1))
        i = j + 1
    return blocks, lines


def python_blocks(path: pathlib.Path):
    raw, lines = parse(path)
    out = []
    for k, (lang, line, code, end) in enumerate(raw):
        if lang in REFUSED_LANGS:
            raise AssertionError(f"{path.name}:{line - 1}: use ```python (not ```{lang}) so the block runs")
        if lang != "python":
            continue
        b = Block(lang, line, code)
        nxt = raw[k + 1] if k + 1 < len(raw) else None
        between = lines[end:nxt[1] - 2] if nxt else []
        marks = [ln.split(EXPECT_MARK, 1)[1].rstrip() for ln in code.splitlines() if EXPECT_MARK in ln]
        if nxt is not None and nxt[0] == "text" and all(not s.strip() for s in between):
            if marks:
                raise AssertionError(f"{path.name}:{line}: a block with a ```text output block "
                                     "must not also use '# ->' comments")
            b.expected, b.source = nxt[2], "the ```text block after it"
        elif marks:
            b.expected, b.source = "\n".join(marks) + "\n", "its '# ->' comments"
        out.append(b)
    return out


# The child: runs the blocks of one file and reports stdout/errors per block as JSON.
RUNNER = r'''
import contextlib, io, json, sys, traceback, warnings
warnings.simplefilter("error")
blocks = json.load(sys.stdin)
ns = {"__name__": "__main__"}
results = []
for code in blocks:
    buf = io.StringIO()
    err = None
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(code, "example.py", "exec"), ns)
    except BaseException:
        err = traceback.format_exc()
    results.append({"stdout": buf.getvalue(), "error": err})
sys.__stdout__.write("\n@@RESULTS@@" + json.dumps(results))
'''


def run_blocks(blocks, tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.pop("PYTHONWARNINGS", None)
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps([b.code for b in blocks]),
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=TIMEOUT_S)
    out = proc.stdout
    assert "@@RESULTS@@" in out, f"the runner died (exit {proc.returncode}):\n{out}\n{proc.stderr}"
    return json.loads(out.rsplit("@@RESULTS@@", 1)[1])


_CHECKER = doctest.OutputChecker()


def matches(expected: str, got: str) -> bool:
    norm = lambda s: "\n".join(ln.rstrip() for ln in s.strip("\n").splitlines()) + "\n"  # noqa: E731
    return _CHECKER.check_output(norm(expected), norm(got), doctest.ELLIPSIS)


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def _has_python(path):
    return "```python" in path.read_text()


DOCS_WITH_CODE = [p for p in DOCS if _has_python(p)]


def test_the_main_docs_have_code_to_run():
    names = {p.name for p in DOCS_WITH_CODE}
    assert {"README.md", "autograd.md", "porting.md", "architecture.md"} <= names


@pytest.mark.parametrize("path", DOCS_WITH_CODE, ids=_ids(DOCS_WITH_CODE))
def test_python_blocks_run_and_print_what_the_docs_say(path, tmp_path):
    try:
        blocks = python_blocks(path)
    except AssertionError as e:
        pytest.fail(str(e), pytrace=False)
    results = run_blocks(blocks, tmp_path)
    rel = path.relative_to(ROOT)
    problems = []
    for b, r in zip(blocks, results, strict=True):
        if r["error"]:
            m = re.findall(r'File "example.py", line (\d+)', r["error"])
            where = f"{rel}:{b.line + int(m[-1]) - 1}" if m else f"{rel}:{b.line}"
            problems.append(f"the python block at {rel}:{b.line} raised (at {where}):\n{r['error']}\n"
                            f"stdout so far:\n{r['stdout']}")
        elif b.expected is not None and not matches(b.expected, r["stdout"]):
            problems.append(f"the python block at {rel}:{b.line} printed something other than "
                            f"{b.source}.\n--- expected\n{b.expected}--- got\n{r['stdout']}")
    if problems:
        note = "\n\n(the blocks run on after an error, so later errors may follow from earlier ones)" \
            if len(problems) > 1 else ""
        pytest.fail("\n\n".join(problems) + note, pytrace=False)
    assert len(results) == len(blocks)


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_anchors(text: str) -> set:
    """The ids GitHub gives the headings of a Markdown text (lower case, punctuation dropped,
    spaces to hyphens, ``-1``, ``-2``... for repeats)."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    seen, out = {}, set()
    for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


@pytest.mark.parametrize("path", DOCS, ids=_ids(DOCS))
def test_relative_links_point_at_files_and_headings_that_exist(path):
    text = path.read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", text, flags=re.S)  # links inside code blocks are code
    missing = []
    for target in _LINK.findall(prose):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file) if file else path
        if (
            not dest.exists()
            or anchor
            and dest.suffix == ".md"
            and anchor not in github_anchors(dest.read_text("utf-8"))
        ):
            missing.append(target)
    if missing:
        pytest.fail(f"{path.relative_to(ROOT)} links to missing files or headings: {missing}", pytrace=False)


def test_the_rules_themselves():
    """The parser: output blocks, '# ->' comments, ellipsis, refused languages."""
    import tempfile
    md = ("Intro\n\n```python\nprint(1)\n```\n\n```text\n1\n```\n\n"
          "```python\nx = 2\nprint(x)  # -> 2\nprint('a b c')  # -> a ... c\n```\n\n"
          "```bash\nmake demo\n```\n```text\nnot compared\n```\n")
    with tempfile.TemporaryDirectory() as d:
        p = pathlib.Path(d) / "x.md"
        p.write_text(md)
        bs = python_blocks(p)
        assert [b.expected for b in bs] == ["1\n", "2\na ... c\n"]
        assert bs[0].line == 4
        assert matches(bs[1].expected, "2\na b c\n") and not matches(bs[1].expected, "3\na b c\n")
        p.write_text("```py\nprint(1)\n```\n")
        with pytest.raises(AssertionError, match="use ```python"):
            python_blocks(p)
