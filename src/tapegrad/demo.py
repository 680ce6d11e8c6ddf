"""``make demo``: transfer learning by freezing, told on scikit-learn's handwritten digits.

1. the autograd walkthrough (``Q = 3a^3 - b^2``) and a picture of its graph;
2. a ResNet-18 on the digits adapted to 3x32x32 images, trained on digits 0-4 and saved with
   ``tapegrad.save`` (or, with ``--weights PATH``, started from a checkpoint). Each
   training digit is shown in its four 90-degree rotations and the label says which
   digit *and* which rotation (20 classes): a plain 5-way classifier of 0-4 collapses
   its last features onto those five classes and transfers worse than a random
   network to new digits, while telling rotations apart keeps stroke features;
3. fine-tuning on digits 5-9 from five labelled examples per class, three ways:
   frozen backbone + new ``fc``, full fine-tuning, training from scratch (and, as
   the control, a frozen *random* backbone), each with validation accuracy and
   time per step. "Frozen" is what the PyTorch idiom does: ``requires_grad =
   False`` on every parameter; the model stays in train mode, so batch norm
   normalises with the batch's statistics;
4. ``demo-out/``: loss/accuracy curves (PNG), the graph picture, ``results.json``
   with every number printed, and the checkpoint.

``--quick`` runs the same code on a fraction of the data and steps (for CI).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import tapegrad as torch
from tapegrad import nn, optim
from tapegrad.nn import functional as F


# --------------------------------------------------------------------------- small helpers
def progress(iterable, desc, total=None, enabled=True):
    """tqdm when installed (the optional ``progress`` extra), else a plain counter."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
        return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, file=sys.stdout)
    except ImportError:
        return iterable


def log(msg=""):
    print(msg, flush=True)


# --------------------------------------------------------------------------- 1. autograd walkthrough
def autograd_walkthrough(out_dir=None):
    """The README example, printed as PyTorch prints it; returns the numbers it checks."""
    from tapegrad.autograd import Variable

    a = Variable(torch.rand(5))            # Variable is the legacy wrapper: it returns a Tensor
    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)
    Q = 3 * a ** 3 - b ** 2
    Q.backward(gradient=torch.tensor([1., 1.]))   # vector-Jacobian product for a non-scalar root
    print(9 * a ** 2 == a.grad)                # tensor([True, True])
    print(-2 * b == b.grad)                    # tensor([True, True])
    x, y, z = torch.rand(5, 5), torch.rand(5, 5), torch.rand((5, 5), requires_grad=True)
    print((x + y).requires_grad, (x + z).requires_grad)   # False True
    print(Q)                                   # tensor([-12.,  65.], grad_fn=<SubBackward0>)
    result = {
        "Q": Q.tolist(),
        "a_grad": a.grad.tolist(),
        "b_grad": b.grad.tolist(),
        "a_grad_matches_9a2": bool((9 * a ** 2 == a.grad).all()),
        "b_grad_matches_minus_2b": bool((-2 * b == b.grad).all()),
    }
    if out_dir is not None:
        Q2 = 3 * a ** 3 - b ** 2
        result["graph_files"] = save_graph(Q2, {"a": a, "b": b}, os.path.join(out_dir, "graph"))
    return result


def save_graph(root, params, stem):
    """The recorded graph as SVG (always) and PNG (when matplotlib is installed)."""
    try:
        from tapegrad import viz
    except ImportError:  # pragma: no cover - viz is part of the package
        return []
    dot = viz.make_dot(root, params=params)
    files = []
    for fmt in ("svg", "png"):
        try:
            files.append(dot.render(stem + "." + fmt, format=fmt))
        except ImportError as e:
            log(f"  (skipping {fmt}: {e})")
    return [os.path.basename(f) for f in files]


# --------------------------------------------------------------------------- 2. data and model
def load_digits_3x32(quick):
    """Digits as (N, 3, 32, 32) float tensors: upsampled 4x, replicated to RGB, normalised."""
    from tapegrad.vision import datasets, transforms

    tf = transforms.Compose([
        transforms.Resize((32, 32)),
        transforms.Lambda(lambda t: t.expand(3, 32, 32)),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    out = {}
    for split, train in (("train", True), ("test", False)):
        ds = datasets.Digits(train=train, transform=tf)
        xs, ys = [], []
        for img, target in ds:
            xs.append(img)
            ys.append(int(target))
        out[split] = (torch.stack(xs), torch.tensor(ys))
    return out


def select(x, y, classes, per_class=None, offset=0, generator=None):
    """Examples of ``classes`` (labels re-numbered from 0), optionally ``per_class`` of each."""
    idx = []
    for c in classes:
        pos = (y == c).nonzero(as_tuple=True)[0]
        if per_class is not None:
            pos = (
                pos[torch.randperm(len(pos), generator=generator)[:per_class]]
                if generator
                else pos[:per_class]
            )
        idx.append(pos)
    idx = torch.cat(idx)
    return x[idx], y[idx] - offset


def small_image_resnet18(num_classes):
    """torchvision's ResNet-18 unchanged but for its classifier; the images come to it
    as 3x32x32 (the stem and max-pool bring them to 8x8 for layer1)."""
    return torch.vision.models.resnet18(num_classes=num_classes)


def evaluate(model, x, y, batch=128):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / max(len(y), 1)


def with_rotations(x, y, n_classes):
    """Each image in its four 90-degree rotations; label = class + rotation * n_classes."""
    xs, ys, r = [x], [y], x
    for k in range(1, 4):
        r = r.transpose(2, 3).flip(2)
        xs.append(r)
        ys.append(y + k * n_classes)
    return torch.cat(xs), torch.cat(ys)


#: steps left out of the time per step: the first ones pay for allocation and caches
WARMUP_STEPS = 3


def train(model, params, x, y, steps, lr, batch, desc, val=None, eval_every=None, show=True, seed=0,
          warmup=0, clip=None):
    """SGD with momentum on (x, y); returns curves and the median time per step after a warm-up.

    ``warmup`` steps raise the learning rate linearly from a tenth before the cosine decay, and
    ``clip`` bounds the gradient norm: from random weights, the first steps at the full rate
    otherwise throw the loss far up before it settles.
    """
    from tapegrad.utils.data import DataLoader, TensorDataset

    params = list(params)
    opt = optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
    cosine = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps - warmup)
    sched = cosine if not warmup else optim.lr_scheduler.SequentialLR(
        opt, [optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=warmup), cosine],
        milestones=[warmup])
    loader = DataLoader(TensorDataset(x, y), batch_size=min(batch, len(y)), shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    losses, accs, times = [], [], []
    bar = progress(range(steps), desc, enabled=show)
    it = iter(loader)
    for step, _ in enumerate(bar, start=1):
        try:
            xb, yb = next(it)
        except StopIteration:
            it = iter(loader)
            xb, yb = next(it)
        model.train()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        times.append(time.perf_counter() - t0)
        sched.step()
        losses.append(float(loss))
        if val is not None and eval_every and (step % eval_every == 0 or step == steps):
            accs.append((step, evaluate(model, *val)))
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    timed = sorted(times[WARMUP_STEPS:] if len(times) > 2 * WARMUP_STEPS else times)
    return {"loss": losses, "val_acc": accs, "sec_per_step": timed[len(timed) // 2] if timed else None}


# --------------------------------------------------------------------------- 3. the story
# long: the demo's story told in order (train, evaluate, plot, report); each stage is a few lines
def run(out_dir="demo-out", quick=False, weights=None, show_progress=True):
    os.makedirs(out_dir, exist_ok=True)
    results = {"quick": quick, "tapegrad_version": torch.__version__}
    t_start = time.perf_counter()

    log("== 1. autograd walkthrough")
    results["autograd"] = autograd_walkthrough(out_dir)
    log(f"   gradients match 9a^2 and -2b: {results['autograd']['a_grad_matches_9a2']} and "
        f"{results['autograd']['b_grad_matches_minus_2b']}; graph saved as "
        f"{', '.join(results['autograd'].get('graph_files', [])) or '(none)'}")

    torch.manual_seed(0)
    data = load_digits_3x32(quick)
    xtr, ytr = data["train"]
    xte, yte = data["test"]
    g = torch.Generator().manual_seed(0)

    # --- 2. source task: digits 0-4 (x 4 rotations)
    src_tr = with_rotations(*select(xtr, ytr, range(5)), 5)
    src_te = with_rotations(*select(xte, yte, range(5)), 5)
    pre_steps = 60 if quick else 200
    log(f"\n== 2. source task: ResNet-18 on digits 0-4 in 4 rotations ({len(src_tr[1])} images, 20 classes, "
        f"{pre_steps} steps)")
    base = small_image_resnet18(20)
    ckpt = os.path.join(out_dir, "resnet18_digits0-4.pth")
    if weights:
        # e.g. torchvision's resnet18-f37072fd.pth: its 1000-class fc doesn't fit, so
        # tensors whose shapes differ are skipped and the rest loaded.
        state = torch.load(weights)
        own = base.state_dict()
        fitting = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
        skipped = sorted(set(state) - set(fitting))
        base.load_state_dict(fitting, strict=False)
        results["pretrain"] = {"from_checkpoint": weights, "skipped_keys": skipped}
        log(
            f"   loaded {len(fitting)} tensors from {weights} "
            f"(skipped {len(skipped)}: {', '.join(skipped[:4])}"
            f"{'...' if len(skipped) > 4 else ''})"
        )
    else:
        hist = train(base, base.parameters(), *src_tr, steps=pre_steps, lr=0.05, batch=32,
                     desc="pretrain 0-4", show=show_progress, warmup=pre_steps // 10, clip=2.0)
        acc = evaluate(base, *src_te)
        results["pretrain"] = {"steps": pre_steps, "val_acc": acc, "sec_per_step": hist["sec_per_step"],
                               "loss": hist["loss"]}
        log(f"   validation accuracy (digit and rotation of held-out 0-4): {acc:.3f}  "
            f"({hist['sec_per_step'] * 1000:.0f} ms/step)")
    torch.save(base.state_dict(), ckpt)
    results["checkpoint"] = os.path.basename(ckpt)
    log(f"   checkpoint written with tapegrad.save: {ckpt}")

    # --- 3. target task: digits 5-9 from few labels
    per_class = 5
    tgt_tr = select(xtr, ytr, range(5, 10), per_class=per_class, offset=5, generator=g)
    tgt_te = select(xte, yte, range(5, 10), offset=5)
    ft_steps = 30
    log(f"\n== 3. target task: digits 5-9 from {per_class} labelled examples per class "
        f"({len(tgt_tr[1])} images), {ft_steps} steps each, validated on {len(tgt_te[1])}; "
        f"times are medians after {WARMUP_STEPS} warm-up steps, {torch.get_num_threads()} threads")

    def fresh_from(state):
        m = small_image_resnet18(20)
        if state is not None:
            m.load_state_dict(state)
        return m

    pre_state = torch.load(ckpt)
    variants = {}
    eval_every = max(ft_steps // 5, 1)
    for name, state, freeze in (("frozen_pretrained", pre_state, True),
                                ("full_finetune", pre_state, False),
                                ("scratch", None, False),
                                ("frozen_random", None, True)):
        torch.manual_seed(1)
        model = fresh_from(state)
        if freeze:
            for p in model.parameters():
                p.requires_grad = False
        model.fc = nn.Linear(512, 5)               # a new classifier for the new classes
        params = [p for p in model.parameters() if p.requires_grad]
        lr = 0.05 if freeze else 0.01
        hist = train(model, params, *tgt_tr, steps=ft_steps, lr=lr, batch=25, desc=name, val=tgt_te,
                     eval_every=eval_every, show=show_progress, seed=1)
        acc = hist["val_acc"][-1][1]
        variants[name] = {"val_acc": acc, "sec_per_step": hist["sec_per_step"], "loss": hist["loss"],
                          "val_curve": hist["val_acc"], "trainable_params": sum(p.numel() for p in params)}
        log(f"   {name:18s} val acc {acc:.3f}   {hist['sec_per_step'] * 1000:7.1f} ms/step   "
            f"trainable params {variants[name]['trainable_params']:,}")
    results["finetune"] = variants

    fp, fr, ff = variants["frozen_pretrained"], variants["frozen_random"], variants["full_finetune"]
    results["facts"] = {
        "frozen_pretrained_beats_frozen_random": fp["val_acc"] > fr["val_acc"],
        "accuracy_gain_over_frozen_random": fp["val_acc"] - fr["val_acc"],
        "frozen_faster_than_full": fp["sec_per_step"] < ff["sec_per_step"],
        "frozen_time_fraction_of_full": fp["sec_per_step"] / ff["sec_per_step"],
    }
    log(f"\n   frozen pretrained backbone vs frozen random backbone: {fp['val_acc']:.3f} vs "
        f"{fr['val_acc']:.3f} accuracy ({'better' if fp['val_acc'] > fr['val_acc'] else 'NOT better'}, "
        f"{(fp['val_acc'] - fr['val_acc']) * 100:+.1f} points)")
    log(f"   frozen backbone step vs full fine-tuning step: {fp['sec_per_step'] * 1000:.1f} ms vs "
        f"{ff['sec_per_step'] * 1000:.1f} ms ({fp['sec_per_step'] / ff['sec_per_step']:.2f}x the time)")

    # --- 4. pictures and numbers
    results["plots"] = plot_curves(results, out_dir)
    results["total_seconds"] = time.perf_counter() - t_start
    path = os.path.join(out_dir, "results.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, path)
    log(f"\n== 4. wrote {out_dir}/: {', '.join(sorted(os.listdir(out_dir)))}  "
        f"({results['total_seconds']:.0f} s in all)")
    return results


def plot_curves(results, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("   (matplotlib not installed: no plots; `pip install matplotlib`)")
        return []
    files = []
    fig, ax = plt.subplots(figsize=(7, 4))
    if "loss" in results.get("pretrain", {}):
        ax.plot(results["pretrain"]["loss"], label="pretrain on 0-4", color="grey")
    for name, v in results["finetune"].items():
        ax.plot(v["loss"], label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.set_title("tapegrad ResNet-18 on digits: training loss")
    ax.legend()
    fig.tight_layout()
    files.append(_save_fig(fig, os.path.join(out_dir, "loss_curves.png")))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, v in results["finetune"].items():
        steps, accs = zip(*v["val_curve"], strict=True) if v["val_curve"] else ((), ())
        ax.plot(steps, accs, marker="o", label=f"{name} ({v['sec_per_step'] * 1000:.0f} ms/step)")
    ax.set_xlabel("step")
    ax.set_ylabel("validation accuracy (digits 5-9)")
    ax.set_ylim(0, 1)
    ax.set_title("fine-tuning from few labels")
    ax.legend()
    fig.tight_layout()
    files.append(_save_fig(fig, os.path.join(out_dir, "accuracy_curves.png")))
    plt.close(fig)
    return files


def _save_fig(fig, path):
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    return os.path.basename(path)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tapegrad.demo", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a fraction of the data and steps (for CI)")
    p.add_argument("--weights", help="start from this checkpoint instead of pretraining on digits 0-4")
    p.add_argument("--out", default="demo-out", help="output directory (default demo-out)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    run(args.out, quick=args.quick, weights=args.weights, show_progress=not args.no_progress)


if __name__ == "__main__":
    main()
