"""Shared fixtures of the torch-parity tests (tests/parity/).

The parity test modules skip themselves when torch is absent
(``pytest.importorskip("torch")`` at their top); nothing here needs torch.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

try:  # tapegrad keeps global state (default dtype, grad mode): restore it after every test
    import tapegrad as _tg
except Exception:  # pragma: no cover - the package itself is broken; the tests will say so
    _tg = None

try:
    import torch as _torch
except ImportError:  # pragma: no cover - the modules skip themselves
    _torch = None


#: forward/gradient tolerances per floating dtype (float16 is only used for dtype checks)
TOLERANCES = {
    "float32": dict(rtol=1e-5, atol=1e-6),
    "float64": dict(rtol=1e-12, atol=1e-12),
    "float16": dict(rtol=1e-3, atol=1e-3),
}


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Every parity test starts and ends with the default dtype float32 and grad mode on.

    It also re-applies the warning filter ``import tapegrad`` installs (NumPy's
    divide-by-zero/overflow RuntimeWarnings are silenced inside tapegrad, as PyTorch is
    silent): pytest drops filters added while it collects, where tapegrad gets imported.
    """
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tapegrad(\..*)?$")
    yield
    if _tg is not None:
        _tg.set_default_dtype(_tg.float32)
        _tg.set_grad_enabled(True)
    if _torch is not None:
        _torch.set_default_dtype(_torch.float32)
        _torch.set_grad_enabled(True)


@pytest.fixture
def tolerances():
    return TOLERANCES


@pytest.fixture
def rng():
    return np.random.default_rng(20240607)
