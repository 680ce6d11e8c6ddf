"""Tutorial-style scripts written for PyTorch run unchanged on tapegrad and print the same.

Each script in tests/tutorials/ says ``import torch`` and uses what introductory PyTorch
tutorials use (tensors, autograd, an MLP with a DataLoader, a CNN, a custom Dataset,
checkpoints, learning-rate schedules, a custom autograd.Function, device-agnostic code).
It runs twice in fresh interpreters: with PyTorch, and through ``_as_torch.py``, which
makes every ``torch[.x]`` import resolve to ``tapegrad[.x]``. The scripts take their
data and weights from formulas, not random generators, so the printed numbers must
agree to float32 rounding and every other word exactly.
"""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

pytest.importorskip("torch")

HERE = pathlib.Path(__file__).resolve().parent / "tutorials"
SCRIPTS = sorted(p.name for p in HERE.glob("t[0-9]*.py"))
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _run(argv):
    proc = subprocess.run([sys.executable, *argv], cwd=HERE, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _tokens(text):
    """``(words, numbers)``: the output with each number replaced by a marker, and the numbers."""
    return _NUMBER.sub("#", text), [float(n) for n in _NUMBER.findall(text)]


def same_output(ours, theirs, rtol=2e-4, atol=1e-5):
    """None if the outputs agree (numbers to tolerance), else a description of the first difference."""
    for i, (a, b) in enumerate(zip(ours.splitlines(), theirs.splitlines(), strict=False)):
        wa, na = _tokens(a)
        wb, nb = _tokens(b)
        if wa != wb or len(na) != len(nb) or any(abs(x - y) > atol + rtol * abs(y)
                                                   for x, y in zip(na, nb, strict=True)):
            return f"line {i + 1}:\n  tapegrad: {a}\n  torch:    {b}"
    if len(ours.splitlines()) != len(theirs.splitlines()):
        return f"{len(ours.splitlines())} lines, torch printed {len(theirs.splitlines())}"
    return None


def test_there_are_tutorials():
    assert len(SCRIPTS) >= 6


@pytest.mark.parametrize("script", SCRIPTS)
def test_tutorial_prints_what_torch_prints(script):
    theirs = _run([script])
    ours = _run(["_as_torch.py", script])
    assert theirs.strip(), "the script printed nothing"
    diff = same_output(ours, theirs)
    assert diff is None, diff


def test_the_alias_really_runs_tapegrad():
    out = _run(["-c", "import _as_torch, torch, torch.nn as nn, torch.utils.data as d, tapegrad;"
                      "print(torch is tapegrad, nn is tapegrad.nn, d is tapegrad.utils.data)"])
    assert out.split() == ["True", "True", "True"]


def test_the_comparison_can_fail():
    assert same_output("loss 1.000000\n", "loss 1.000001\n") is None
    assert same_output("loss 1.0\n", "loss 1.1\n") is not None
    assert same_output("loss 1.0\n", "lost 1.0\n") is not None
    assert same_output("a 1\nb 2\n", "a 1\n") is not None
