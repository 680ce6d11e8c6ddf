"""Child process of resnet18_memory: ``python -m bench._memchild LIB [STEPS]``.

Imports only LIB (``tapegrad`` or ``torch``) besides NumPy and bench's own helpers,
builds ResNet-18, runs STEPS full SGD training steps and prints one JSON line.
"""
from __future__ import annotations

import importlib
import json
import sys

STEPS = 5


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def child(lib_name: str, steps: int = STEPS) -> dict:
    import resource

    lib = importlib.import_module(lib_name)
    from .nn import resnet18_setup, train_step

    after_import = _status_kib("VmRSS")
    state = resnet18_setup(lib)
    for _ in range(steps):
        train_step(state)
    return {
        "lib": lib_name,
        "vmhwm_kib": _status_kib("VmHWM"),
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_after_import_kib": after_import,
        "rss_end_kib": _status_kib("VmRSS"),
    }


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else STEPS)))
