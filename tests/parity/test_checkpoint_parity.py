"""tapegrad.utils.checkpoint against torch.utils.checkpoint: same weights, same gradients."""
from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import torch.utils.checkpoint as tck  # noqa: E402

import tapegrad  # noqa: E402
import tapegrad.utils.checkpoint as gck  # noqa: E402


def _models(depth=4, width=6):
    tapegrad.manual_seed(0)
    layers = []
    for i in range(depth):
        layers += [tapegrad.nn.Linear(width, width), tapegrad.nn.Tanh() if i % 2 else tapegrad.nn.ReLU()]
    tg = tapegrad.nn.Sequential(*layers)
    th_layers = []
    for i in range(depth):
        th_layers += [torch.nn.Linear(width, width), torch.nn.Tanh() if i % 2 else torch.nn.ReLU()]
    th = torch.nn.Sequential(*th_layers).double()
    with torch.no_grad():
        for p_tg, p_th in zip(tg.parameters(), th.parameters(), strict=True):
            p_th.copy_(torch.from_numpy(p_tg.detach().numpy().astype(np.float64)))
    tg = tg.double() if hasattr(tg, "double") else tg
    return tg, th


def _inputs(shape=(5, 6)):
    x = np.random.default_rng(3).standard_normal(shape)
    return (tapegrad.tensor(x, requires_grad=True),
            torch.tensor(x, requires_grad=True))


def _check(tg, th, xg, xt):
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for pg, pt in zip(tg.parameters(), th.parameters(), strict=True):
        np.testing.assert_allclose(pg.grad.numpy(), pt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpoint_grads_match_torch(reentrant):
    tg, th = _models()
    xg, xt = _inputs()

    def seg_tg(x):
        return tg[2:6](x)

    def seg_th(x):
        return th[2:6](x)
    yg = tg[6:](gck.checkpoint(seg_tg, tg[:2](xg), use_reentrant=reentrant))
    yt = th[6:](tck.checkpoint(seg_th, th[:2](xt), use_reentrant=reentrant))
    np.testing.assert_allclose(yg.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    (yg ** 2).sum().backward()
    (yt ** 2).sum().backward()
    _check(tg, th, xg, xt)


@pytest.mark.parametrize("reentrant", [True, False])
@pytest.mark.parametrize("segments", [1, 2, 3, 8])
def test_checkpoint_sequential_grads_match_torch(segments, reentrant):
    tg, th = _models()
    xg, xt = _inputs()
    yg = gck.checkpoint_sequential(tg, segments, xg, use_reentrant=reentrant)
    yt = tck.checkpoint_sequential(th, segments, xt, use_reentrant=reentrant)
    (yg.sin()).sum().backward()
    (yt.sin()).sum().backward()
    _check(tg, th, xg, xt)


def test_warnings_match_torch():
    def texts(mod, lib):
        x = lib.ones(2, requires_grad=True)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            mod.checkpoint(lambda t: t * 2, x)
            mod.checkpoint_sequential([lambda t: t * 2, lambda t: t + 1], 2, x)
            mod.checkpoint(lambda t: t * 2, lib.ones(2), use_reentrant=True)
        return [(type(m.message), str(m.message)) for m in w]
    assert texts(gck, tapegrad) == texts(tck, torch)


def test_errors_match_torch():
    def err(mod, lib, call):
        x = lib.ones(2, requires_grad=True)
        try:
            call(mod, x)
        except Exception as e:  # noqa: BLE001
            return type(e), str(e)
        return None
    calls = [
        lambda m, x: m.checkpoint(lambda t, foo: t, x, use_reentrant=True, foo=1),
        lambda m, x: m.checkpoint(lambda t: t, x, use_reentrant=True, debug=True),
        lambda m, x: m.checkpoint_sequential([lambda t: t], 1, x, use_reentrant=True, foo=1),
        lambda m, x: m.checkpoint(lambda t: t.detach() * 2, x, use_reentrant=True).sum().backward(),
    ]
    for c in calls:
        a, b = err(gck, tapegrad, c), err(tck, torch, c)
        assert a is not None and a == b
