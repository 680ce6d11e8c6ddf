"""The second worked example (``make seq``) in --quick mode: it runs, both models learn, and
PyTorch loads each checkpoint into the same architecture and computes the same outputs."""
import json
import os
import struct
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import tapegrad
from tapegrad.examples import seq

ROOT = Path(__file__).resolve().parents[1]
SEQ_PY = ROOT / "src" / "tapegrad" / "examples" / "seq.py"
NAMES = ("transformer", "lstm")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("seq-out")
    # one BLAS thread: the suite shares the machine, and two BLAS threads that wait on each other
    # in an oversubscribed machine cost many times the CPU of one
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "tapegrad.examples.seq", "--quick", "--no-progress", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def seq_on_torch():
    """seq.py itself with ``import torch`` in place of its tapegrad import: PyTorch's modules."""
    src = SEQ_PY.read_text()
    line = "import tapegrad as torch   # the one line to change to run this example on PyTorch\n"
    assert src.count(line) == 1
    mod = types.ModuleType("seq_on_torch")
    mod.__file__ = str(SEQ_PY)
    exec(compile(src.replace(line, "import torch\n"), str(SEQ_PY), "exec"), mod.__dict__)
    assert mod.torch is torch
    return mod


def held_out_problems():
    """The held-out problems, with the sum digits computed here by Python's integers."""
    a, b, tokens, digits = seq.make_data(seed=0)["held_out"]
    a, b = np.asarray(a.tolist()), np.asarray(b.tolist())
    truth = np.array([[(s // 10 ** i) % 10 for i in range(seq.SEQ_LEN)] for s in (a + b).tolist()])
    assert (np.asarray(digits.tolist()) == truth).all()
    return a, b, np.asarray(tokens.tolist()), truth


def test_outputs_exist(run):
    out, stdout, res = run
    for name in NAMES:
        assert (out / res["models"][name]["checkpoint"]).stat().st_size > 10_000
    data = (out / "loss_curves.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    assert w > 500 and h > 200
    assert res["plots"] == ["loss_curves.png"]
    assert not list(out.glob("*.tmp*")), "atomic writes leave no temporary files"
    assert "total time" in stdout and res["total_seconds"] > 0


def test_losses_decrease(run):
    _, _, res = run
    for name in NAMES:
        loss = res["models"][name]["loss"]
        assert len(loss) == res["models"][name]["steps"] >= 40
        first, last = np.mean(loss[:10]), np.mean(loss[-10:])
        assert first > 2.0, name                     # about log(10) at the start: ten digits
        assert last < 0.6 * first, (name, first, last)


def test_accuracy_above_chance(run):
    _, stdout, res = run
    for name in NAMES:
        r = res["models"][name]
        # a whole 6-digit sum right by chance: one in a million; one digit: one in ten
        assert r["sequence_accuracy"] > 0.03, (name, r["sequence_accuracy"])
        assert r["digit_accuracy"] > 0.5, (name, r["digit_accuracy"])
        assert f"held-out sequence accuracy {r['sequence_accuracy']:.3f}" in stdout
        assert r["held_out_curve"][-1] == [r["steps"], r["sequence_accuracy"]]


def test_samples_printed_next_to_the_truth(run):
    _, stdout, res = run
    a, b, _, _ = held_out_problems()
    assert len(res["samples"]) >= 3
    for i, row in enumerate(res["samples"]):
        assert (row["a"], row["b"]) == (a[i], b[i])
        assert row["truth"] == str(a[i] + b[i]).zfill(seq.SEQ_LEN)
        marks = ["ok" if row[name] == row["truth"] else "WRONG" for name in NAMES]
        assert f"{a[i]:05d} + {b[i]:05d} = {row['truth']}" in stdout
        assert "".join(f"{row[n]:>9s} {m:>5s}" for n, m in zip(NAMES, marks, strict=True)) in stdout


def test_held_out_problems_are_not_in_training():
    data = seq.make_data(seed=0)
    train = set(zip(data["train"][0].tolist(), data["train"][1].tolist(), strict=True))
    held = list(zip(data["held_out"][0].tolist(), data["held_out"][1].tolist(), strict=True))
    assert len(held) == seq.N_HELD_OUT == len(set(held))
    assert not train & set(held)


@pytest.mark.parametrize("name", NAMES)
def test_torch_loads_the_checkpoint_into_the_same_architecture(run, seq_on_torch, name):
    out, _, res = run
    r = res["models"][name]
    path = out / r["checkpoint"]
    cls, _, _ = seq_on_torch.MODELS[name]
    theirs = cls(**r["config"])
    assert isinstance(theirs, torch.nn.Module)
    theirs.load_state_dict(torch.load(path))            # strict: every key and shape matches
    ours = seq.MODELS[name][0](**r["config"])
    ours.load_state_dict(tapegrad.load(path))
    theirs.eval()
    ours.eval()

    a, b, tokens, truth = held_out_problems()
    batch = tokens[:256]
    with torch.no_grad():
        expected = theirs(torch.from_numpy(batch)).numpy()
    with tapegrad.no_grad():
        got = ours(tapegrad.tensor(batch)).numpy()
    assert got.shape == expected.shape == (256, seq.SEQ_LEN, 10)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)

    # PyTorch's copy scores the held-out sums as the example reported (ties in argmax aside)
    with torch.no_grad():
        pred = theirs(torch.from_numpy(tokens)).argmax(-1).numpy()
    assert abs((pred == truth).all(1).mean() - r["sequence_accuracy"]) <= 2 / len(truth)


def test_examples_package_lists_seq():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-m", "tapegrad.examples"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "seq" in proc.stdout and "python -m tapegrad.examples.<name>" in proc.stdout
