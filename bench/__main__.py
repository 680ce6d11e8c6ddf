"""Command line: ``python -m bench [--quick] [--only NAME ...] [--json PATH] [--no-torch]
[--in-process] [--contention] [--torch-threads N]``."""
from __future__ import annotations

import argparse
import sys
import time

from . import load_workloads, run_workload
from ._processes import Child, contention, time_in_processes
from ._harness import (Config, Stats, as_jsonable, dump_json, environment, fmt_cell,
                       pin_torch_threads, render_table, _loadavg)


def _median(res):
    if isinstance(res, Stats):
        return res.median
    if isinstance(res, dict) and "median" in res:
        return res["median"]
    return None


def _ratio_row(name, tg, th, target):
    ratio = tg / th if tg is not None and th else None
    rs = f"{ratio:.2f}x" if ratio is not None else "-"
    ts = f"<= {target}x" if target is not None else "-"
    met = "-" if ratio is None or target is None else ("yes" if ratio <= target else "NO")
    return ratio, (name, rs, ts, met)


def main(argv=None) -> int:
    workloads = load_workloads()
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time tapegrad against torch, each in its own process, alternating rounds "
                    "(docs/benchmarks.md).")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test)")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=list(workloads),
                   help="run only these workloads: " + ", ".join(workloads))
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--no-torch", action="store_true", help="time tapegrad alone")
    p.add_argument("--torch-threads", type=int, metavar="N",
                   help="diagnostics: pin torch to N threads instead of its default")
    p.add_argument("--in-process", action="store_true",
                   help="diagnostics: both libraries in this one process (not how users run them: "
                        "two thread pools and one allocator share the machine)")
    p.add_argument("--contention", action="store_true",
                   help="keep one core busy with another process during the run")
    args = p.parse_args(argv)
    with contention(args.contention):
        return _run(args, workloads)


# long: the report of each mode, in order
def _run(args, workloads) -> int:  # noqa: C901 - the report's sections, one after another

    torch_error = None
    threads = None
    children: dict = {}
    if args.no_torch:
        torch_error = "--no-torch"
    elif args.in_process:
        try:
            threads = pin_torch_threads(args.torch_threads)
            if threads is None:
                torch_error = "torch is not installed"
        except Exception as exc:  # noqa: BLE001 - a broken torch install: time tapegrad alone
            torch_error = f"import torch failed: {exc}"
    libs = ("tapegrad", "torch") if torch_error is None else ("tapegrad",)
    if not args.in_process:
        for lib in libs:
            try:
                children[lib] = Child(lib)
            except Exception as exc:  # noqa: BLE001 - a library that does not start is reported
                torch_error = f"the {lib} process failed: {exc}"
        libs = tuple(children)
        if "torch" in children:
            threads = children["torch"].info["threads"]
            if args.torch_threads:
                print("note: --torch-threads applies to --in-process only; "
                      "use OMP_NUM_THREADS for the torch process")

    config = Config.make(args.quick)
    env = environment(threads, with_torch=torch_error is None and args.in_process)
    if children:
        env["mode"] = "one process per library, alternating rounds"
        env["torch"] = children["torch"].info["version"] if "torch" in children else None
        env["torch_threads"] = threads
        env["torch_interop_threads"] = (children["torch"].info["interop_threads"]
                                        if "torch" in children else None)
        env["tapegrad_threads"] = children["tapegrad"].info["threads"]
    else:
        env["mode"] = "one process for both libraries (--in-process)"
    print("tapegrad benchmarks" + (" (--quick)" if args.quick else ""), env["date"])
    print(f"CPU: {env['cpu_model']} | cores: {env['cpu_count']} (usable {env['cpus_usable']})")
    print(f"python {env['python']} | numpy {env['numpy']} ({env['numpy_blas']}) | "
          f"tapegrad {env['tapegrad']}")
    if torch_error is None:
        how = ("its default, in its own process" if children else
               "pinned, --torch-threads" if args.torch_threads else "pinned, its default")
        print(f"torch {env['torch']} | torch.get_num_threads() = {threads} ({how}) | "
              f"interop threads {env['torch_interop_threads']}")
    else:
        print(f"torch: not timed ({torch_error})")
    load = env["loadavg"]
    if load is not None:
        busy = load[0] > max(1.0, 0.5 * (env["cpus_usable"] or env["cpu_count"] or 1))
        print(f"load average (1/5/15 min): {load[0]} {load[1]} {load[2]}"
              + ("  WARNING: the machine is busy; multi-threaded kernels (BLAS, torch"
                 " intra-op) suffer most, so ratios are unreliable; compare with a single-threaded"
                 " run: OPENBLAS_NUM_THREADS=1 python -m bench --torch-threads 1" if busy else ""))
    if env["thread_env"]:
        print("thread env:", env["thread_env"])
    print(f"mode: {env['mode']}" + (" | one core kept busy by another process (--contention)"
                                      if args.contention else ""))
    if children:
        print(f"tapegrad.get_num_threads() = {env['tapegrad_threads']} in its process")
    print("times: median per iteration (and inter-quartile range) over alternating repetitions; "
          "ratio = tapegrad / torch\n")

    names = args.only or list(workloads)
    results: dict = {}
    rows = []
    summary = {}
    for name in names:
        w = workloads[name]
        t0 = time.perf_counter()
        if children and w.measure is None:
            res = time_in_processes(children, name, config, max_rounds=w.max_rounds,
                                    max_seconds=w.max_seconds)
        else:
            res = run_workload(name, config, libs)
        results[name] = res
        tg, th = _median(res.get("tapegrad")), _median(res.get("torch"))
        ratio, (_, rs, ts, met) = _ratio_row(name, tg, th, w.target)
        summary[name] = {"ratio": ratio, "target": w.target, "met": met}
        row = (name, fmt_cell(res.get("tapegrad"), w.unit), fmt_cell(res.get("torch"), w.unit),
               rs, ts, met)
        rows.append(row)
        print(f"  {name}: {row[1]} | {row[2]} | {rs}  ({time.perf_counter() - t0:.1f}s)",
              flush=True)

    # derived: tapegrad's frozen-backbone step relative to its own full step (and torch's, FYI)
    if "resnet18_step" in results and "resnet18_frozen" in results:
        full, frozen = results["resnet18_step"], results["resnet18_frozen"]
        fr = {lib: (_median(frozen.get(lib)) / _median(full.get(lib))
                    if _median(frozen.get(lib)) and _median(full.get(lib)) else None) for lib in libs}
        target = 0.3
        tg = fr.get("tapegrad")
        met = "-" if tg is None else ("yes" if tg <= target else "NO")
        rows.append(("resnet18 frozen/full (own)", f"{tg:.2f}x" if tg is not None else "-",
                     f"{fr['torch']:.2f}x" if fr.get("torch") is not None else "-",
                     f"{tg:.2f}x" if tg is not None else "-", f"<= {target}x", met))
        summary["resnet18_frozen_over_full"] = {"tapegrad": tg, "torch": fr.get("torch"),
                                                "target": target, "met": met}

    end_load = _loadavg()
    env["loadavg_end"] = end_load
    print()
    print(render_table(rows))
    if end_load is not None:
        print(f"\nload average at the end: {end_load[0]} {end_load[1]} {end_load[2]}")
    if args.json:
        dump_json(args.json, {
            "environment": env, "quick": args.quick, "libs": list(libs),
            "results": {n: {lib: as_jsonable(r) for lib, r in res.items()}
                        for n, res in results.items()},
            "summary": summary,
        })
        print(f"\nwrote {args.json}")
    for child in children.values():
        child.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
