"""Peak memory of a training step on a deep MLP, plain vs ``checkpoint_sequential``.

``python -m bench.checkpoint [--depth 32] [--width 1024] [--batch 256] [--segments 1 4 8]``

Each configuration runs in a fresh child process that builds the model (float32
``Linear``+``ReLU`` blocks), starts ``tracemalloc`` (NumPy reports its buffers to it),
runs forward + backward of ``out.sum()`` once, and prints the traced peak above the
baseline (parameters already allocated; gradients ``.grad`` are part of the peak).
``segments=0`` is the plain run. Standalone script, not part of ``python -m bench``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def child(depth, width, batch, segments, reentrant=True):
    import tracemalloc

    import tapegrad as torch
    from tapegrad.utils.checkpoint import checkpoint_sequential

    torch.manual_seed(0)
    layers = []
    for _ in range(depth):
        layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers)
    x = torch.randn(batch, width, requires_grad=True)
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    if segments:
        out = checkpoint_sequential(model, segments, x, use_reentrant=reentrant)
    else:
        out = model(x)
    after_fwd, peak_fwd = tracemalloc.get_traced_memory()
    out.sum().backward()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mib = 1024 * 1024
    return {"segments": segments, "alive_after_forward_mib": (after_fwd - base) / mib,
            "peak_forward_mib": (peak_fwd - base) / mib, "peak_step_mib": (peak - base) / mib}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, default=32)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--segments", type=int, nargs="*", default=[0, 2, 4, 8, 16, 32])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.depth, a.width, a.batch, a.segments[0])))
        return
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.join(here, "src"), here,
                                                       env.get("PYTHONPATH")) if p)
    act = a.depth * 2 * a.batch * a.width * 4 / 2 ** 20
    print(f"deep MLP: {a.depth} x (Linear({a.width},{a.width}) + ReLU), batch {a.batch}, float32; "
          f"params {a.depth * (a.width + 1) * a.width * 4 / 2 ** 20:.0f} MiB, "
          f"~{act:.0f} MiB of layer outputs produced")
    print(f"{'run':>22} {'alive after fwd':>16} {'peak fwd':>10} {'peak fwd+bwd':>13}  (MiB above baseline)")
    for s in a.segments:
        r = subprocess.run([sys.executable, "-m", "bench.checkpoint", "--child", "--depth", str(a.depth),
                            "--width", str(a.width), "--batch", str(a.batch), "--segments", str(s)],
                           capture_output=True, text=True, env=env, cwd=here, check=True)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        name = "plain" if s == 0 else f"checkpoint_seq({s})"
        print(f"{name:>22} {res['alive_after_forward_mib']:16.1f} {res['peak_forward_mib']:10.1f} "
              f"{res['peak_step_mib']:13.1f}")


if __name__ == "__main__":
    main()
