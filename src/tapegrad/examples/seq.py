"""``make seq``: a small Transformer encoder and an LSTM learn to add two numbers written as digits.

The task, generated here with a fixed seed: two 5-digit numbers ``a`` and ``b`` are written digit
by digit, least significant first, as a column addition is done by hand. Position ``i`` of the
input is the token ``10 * a_i + b_i`` (one of 100 digit pairs) and position ``i`` of the target is
digit ``i`` of ``a + b``; a sixth position (the pair ``0, 0``) takes the final carry. A sum digit
depends on its own pair *and* on the carry from every lower position, so a model has to learn
column addition, not a table lookup.

* The **LSTM** (2 layers, hidden 64) reads the pairs in order, as a person does: the carry is
  one bit of state passed forward, and it learns the task within a few hundred steps.
* The **Transformer encoder** (d_model 64, 4 heads, 2 layers, learned positional embeddings)
  sees every pair at once and has to find, by attention, the lower positions that produce a
  carry: it needs more steps, and each step costs more.

Both train with Adam on the same 20,000 problems and are scored on held-out problems (none of
them in the training set) by *sequence* accuracy: all six digits of the sum right (chance is one
in a million). The run prints a few predictions next to the truth and writes to ``seq-out/``:
``loss_curves.png`` (both models' training loss and held-out accuracy), ``transformer.pth`` and
``lstm.pth`` (``tapegrad.save``; PyTorch's ``torch.load`` reads them into the same
architecture), and ``results.json`` with every number printed.

Written against PyTorch's API: with ``import torch`` in place of ``import tapegrad as torch``
below, this file runs unchanged on PyTorch. ``--quick`` runs a fraction of the steps (for CI).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import tapegrad as torch   # the one line to change to run this example on PyTorch

nn = torch.nn
F = torch.nn.functional

DIGITS = 5                  # each addend has 5 digits
SEQ_LEN = DIGITS + 1        # the sum has one more (the final carry)
VOCAB = 100                 # input tokens: the digit pairs 10 * a_i + b_i
N_TRAIN, N_HELD_OUT = 20_000, 2_000


# --------------------------------------------------------------------------- small helpers
# (as in ``tapegrad.demo``, kept here so that this file needs nothing but ``torch``)
def progress(iterable, desc, total=None, enabled=True):
    """tqdm when installed (the optional ``progress`` extra), else the plain iterable."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
        return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, file=sys.stdout)
    except ImportError:
        return iterable


def log(msg=""):
    print(msg, flush=True)


# --------------------------------------------------------------------------- the task
def encode(a, b):
    """Numbers ``a``, ``b`` of shape (N,) -> input tokens and target digits, each (N, SEQ_LEN) int64.

    Digits are least significant first; ``tokens[:, i] = 10 * a_i + b_i`` and ``digits[:, i]`` is
    digit ``i`` of ``a + b``.
    """
    place = 10 ** torch.arange(SEQ_LEN)
    da = (a[:, None] // place) % 10
    db = (b[:, None] // place) % 10
    return da * 10 + db, ((a + b)[:, None] // place) % 10


def make_data(seed=0):
    """Training and held-out problems ``(a, b, tokens, digits)``; no held-out pair is in training."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 10 ** DIGITS, (N_TRAIN + 2 * N_HELD_OUT,), generator=g)
    b = torch.randint(0, 10 ** DIGITS, (N_TRAIN + 2 * N_HELD_OUT,), generator=g)
    keys = (a * 10 ** DIGITS + b).tolist()
    # twice as many drawn as needed, so that dropping repeats (of training problems or of each
    # other) leaves enough
    held, seen = [], set(keys[:N_TRAIN])
    for i in range(N_TRAIN, len(keys)):
        if keys[i] not in seen:
            seen.add(keys[i])
            held.append(i)
    held = torch.tensor(held[:N_HELD_OUT])
    return {"train": (a[:N_TRAIN], b[:N_TRAIN], *encode(a[:N_TRAIN], b[:N_TRAIN])),
            "held_out": (a[held], b[held], *encode(a[held], b[held]))}


def as_number(digits):
    """A row of sum digits (least significant first) as the string a person writes."""
    return "".join(str(int(d)) for d in reversed(digits.tolist()))


# --------------------------------------------------------------------------- the two models
class TransformerAdder(nn.Module):
    """Digit pairs (N, L) -> logits over the sum digit at each position (N, L, 10).

    An ``nn.TransformerEncoder`` over token plus learned position embeddings; no mask, so every
    position attends to every other (the carry into a position comes from the ones below it).
    """

    def __init__(self, d_model=64, nhead=4, num_layers=2, dim_feedforward=128, max_len=SEQ_LEN):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 10)

    def forward(self, tokens):
        h = self.embed(tokens) + self.pos(torch.arange(tokens.shape[1]))
        return self.head(self.encoder(h))


class LSTMAdder(nn.Module):
    """Digit pairs (N, L) -> logits over the sum digit at each position (N, L, 10).

    An ``nn.LSTM`` read least significant digit first, so the carry is state passed forward.
    """

    def __init__(self, embed_dim=32, hidden_size=64, num_layers=2):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 10)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.head(out)


#: name -> (class, constructor arguments, training settings for a full run)
MODELS = {
    "transformer": (TransformerAdder, {"d_model": 64, "nhead": 4, "num_layers": 2, "dim_feedforward": 128},
                    {"steps": 500, "lr": 3e-3, "warmup": 50}),
    "lstm": (LSTMAdder, {"embed_dim": 32, "hidden_size": 64, "num_layers": 2},
             {"steps": 200, "lr": 1e-2, "warmup": 10}),
}
BATCH = 128
#: steps left out of the time per step: the first ones pay for allocation and caches
WARMUP_STEPS = 3


# --------------------------------------------------------------------------- training and scoring
def predict(model, tokens, batch=1000):
    """The predicted sum digits (N, L), in eval mode and without a graph."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(tokens[i:i + batch]).argmax(-1) for i in range(0, len(tokens), batch)])


def accuracy(model, tokens, digits):
    """(sequence accuracy: every digit right, digit accuracy) on ``tokens``."""
    right = predict(model, tokens) == digits
    return float(right.all(1).float().mean()), float(right.float().mean())


def train(model, tokens, digits, steps, lr, warmup, desc, held_out, eval_every, show=True, seed=0):
    """Adam on random batches, the rate warmed up linearly then decayed on a cosine.

    Returns the training loss per step, the held-out sequence accuracy every ``eval_every`` steps
    and the median time per step after a warm-up.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    g = torch.Generator().manual_seed(seed)
    losses, curve, times = [], [], []
    bar = progress(range(1, steps + 1), desc, enabled=show)
    for step in bar:
        idx = torch.randint(0, len(tokens), (BATCH,), generator=g)
        model.train()
        t0 = time.perf_counter()
        logits = model(tokens[idx])
        loss = F.cross_entropy(logits.reshape(-1, 10), digits[idx].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
        sched.step()
        losses.append(loss.item())
        if step % eval_every == 0 or step == steps:
            curve.append((step, accuracy(model, *held_out)[0]))
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{losses[-1]:.3f}", acc=f"{curve[-1][1]:.2f}" if curve else "-")
    timed = sorted(times[WARMUP_STEPS:] if len(times) > 2 * WARMUP_STEPS else times)
    return {"loss": losses, "held_out_curve": curve, "sec_per_step": timed[len(timed) // 2]}


def show_samples(models, held, n=6):
    """A few held-out problems, each model's answer beside the true sum; returns them as dicts."""
    a, b, tokens, digits = held
    preds = {name: predict(m, tokens[:n]) for name, m in models.items()}
    log("   " + "problem".rjust(21) + "  " + "".join(f"{name:>15s}" for name in models))
    rows = []
    for i in range(n):
        truth = as_number(digits[i])
        row = {"a": int(a[i]), "b": int(b[i]), "truth": truth}
        cells = []
        for name in models:
            got = as_number(preds[name][i])
            row[name] = got
            cells.append(f"{got:>9s} {'ok' if got == truth else 'WRONG':>5s}")
        rows.append(row)
        log(f"   {int(a[i]):05d} + {int(b[i]):05d} = {truth}  " + "".join(cells))
    return rows


# --------------------------------------------------------------------------- the story
def run(out_dir="seq-out", quick=False, show_progress=True):
    """Train both models, print what they learned and write the outputs; returns the results."""
    os.makedirs(out_dir, exist_ok=True)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    data = make_data(seed=0)
    held = data["held_out"]
    log(f"== adding two {DIGITS}-digit numbers, least significant digit first: "
        f"{N_TRAIN} training problems, {len(held[0])} held-out ones")
    results = {"quick": quick, "tapegrad_version": getattr(torch, "__version__", "?"), "models": {}}
    models = {}
    for name, (cls, config, settings) in MODELS.items():
        torch.manual_seed(0)
        model = cls(**config)
        # --quick: a third of the steps, the warm-up shortened with them
        steps, warmup = settings["steps"], settings["warmup"]
        if quick:
            steps, warmup = steps // 3, max(warmup // 3, 1)
        n_params = sum(p.numel() for p in model.parameters())
        log(f"\n== {name}: {n_params:,} parameters, {steps} steps of batch {BATCH}")
        hist = train(model, *data["train"][2:], steps=steps, lr=settings["lr"], warmup=warmup,
                     desc=name, held_out=held[2:], eval_every=max(steps // 10, 1), show=show_progress)
        seq_acc, digit_acc = accuracy(model, *held[2:])
        ckpt = os.path.join(out_dir, f"{name}.pth")
        torch.save(model.state_dict(), ckpt)
        models[name] = model
        results["models"][name] = {"config": config, "steps": steps, "parameters": n_params,
                                   "sequence_accuracy": seq_acc, "digit_accuracy": digit_acc,
                                   "checkpoint": os.path.basename(ckpt), **hist}
        log(f"   held-out sequence accuracy {seq_acc:.3f} (digits {digit_acc:.3f}), final loss "
            f"{hist['loss'][-1]:.4f}, {hist['sec_per_step'] * 1000:.1f} ms/step; checkpoint {ckpt}")

    log("\n== held-out problems (the sum as written, most significant digit first)")
    results["samples"] = show_samples(models, held)
    results["plots"] = plot_curves(results, out_dir)
    results["total_seconds"] = time.perf_counter() - t_start
    results["cpu_seconds"] = time.process_time() - cpu_start
    path = os.path.join(out_dir, "results.json")
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
    os.replace(path + ".tmp", path)
    log(f"\n== wrote {out_dir}/: {', '.join(sorted(os.listdir(out_dir)))}")
    log(f"   total time {results['total_seconds']:.1f} s ({results['cpu_seconds']:.1f} s of CPU)")
    return results


def plot_curves(results, out_dir):
    """Training loss (left) and held-out sequence accuracy (right) of both models, as one PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("   (matplotlib not installed: no plot; `pip install matplotlib`)")
        return []
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for name, r in results["models"].items():
        label = f"{name} ({r['sec_per_step'] * 1000:.0f} ms/step)"
        ax_loss.plot(range(1, len(r["loss"]) + 1), r["loss"], label=label)
        steps, accs = zip(*r["held_out_curve"], strict=True)
        ax_acc.plot(steps, accs, marker="o", label=name)
    ax_loss.set(xlabel="step", ylabel="training loss (cross-entropy per digit)", yscale="log",
                title="training loss")
    ax_acc.set(xlabel="step", ylabel="held-out sequence accuracy", ylim=(0, 1.02),
               title="sums entirely right (held out)")
    ax_loss.legend()
    ax_acc.legend()
    fig.suptitle(f"adding two {DIGITS}-digit numbers: Transformer encoder vs LSTM")
    fig.tight_layout()
    path = os.path.join(out_dir, "loss_curves.png")
    fig.savefig(path + ".tmp.png", dpi=110)
    os.replace(path + ".tmp.png", path)
    plt.close(fig)
    return [os.path.basename(path)]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tapegrad.examples.seq", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a third of the steps (for CI)")
    p.add_argument("--out", default="seq-out", help="output directory (default seq-out)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    run(args.out, quick=args.quick, show_progress=not args.no_progress)


if __name__ == "__main__":
    main()
