"""The fused nn ops (convolution, pooling, batch/layer norm, linear, NLL, MSE, max-pool):
first and second derivatives by finite differences, over reductions, weights, ignored
targets, broadcasting and pooling configurations."""
import warnings

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck

rng = np.random.default_rng(0)


def T(a, grad=True):
    return tg.tensor(a, dtype=tg.float64, requires_grad=grad)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3, 2), (3, 1))])
def test_mse_loss_derivatives(reduction, shapes):
    a, b = T(rng.standard_normal(shapes[0])), T(rng.standard_normal(shapes[1]))
    fn = lambda x, y: F.mse_loss(x, y, reduction=reduction)  # noqa: E731
    if shapes[0] != shapes[1]:
        with pytest.warns(UserWarning, match="different to the input size"):
            fn(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the broadcasting warning, checked above
        assert gradcheck(fn, (a, b))
        assert gradgradcheck(fn, (a, b))
        assert fn(a, b).grad_fn.name() == "MseLossBackward0"


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_nll_and_cross_entropy_derivatives(reduction, weighted, ignore):
    x = T(rng.standard_normal((5, 4)))
    t = tg.tensor([0, 3, 1, 1, 2])
    if ignore:
        t = tg.tensor([0, -100, 1, 1, -100])
    w = tg.tensor(rng.random(4) + 0.5, dtype=tg.float64) if weighted else None
    for fn in (lambda z: F.nll_loss(F.log_softmax(z, 1), t, weight=w, reduction=reduction),
               lambda z: F.cross_entropy(z, t, weight=w, reduction=reduction)):
        assert gradcheck(fn, (x,))
        assert gradgradcheck(fn, (x,))
        assert fn(x).grad_fn.name() == "NllLossBackward0"


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2),
                                dict(kernel_size=3, stride=2, ceil_mode=True),
                                dict(kernel_size=2, stride=1, dilation=2)])
def test_max_pool2d_derivatives(kw):
    # spread values so no window has a tie (max is not differentiable at ties)
    x = tg.tensor(rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0, dtype=tg.float64,
                  requires_grad=True)
    fn = lambda z: F.max_pool2d(z, **kw)  # noqa: E731
    assert fn(x).grad_fn.name() == "MaxPool2DWithIndicesBackward0"
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def _t(shape, scale=1.0):
    return tg.tensor(rng.standard_normal(shape) * scale, dtype=tg.float64, requires_grad=True)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2),
                                dict(groups=2, padding=1), dict(stride=(2, 1), padding=(0, 1))])
def test_conv2d_derivatives(kw):
    x, w, b = _t((2, 4, 5, 6)), _t((4, 4 // kw.get("groups", 1), 3, 3)), _t((4,))
    fn = lambda x, w, b: F.conv2d(x, w, b, **kw)  # noqa: E731
    assert fn(x, w, b).grad_fn.name() == "ConvolutionBackward0"
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, output_padding=1), dict(groups=2)])
def test_conv_transpose2d_derivatives(kw):
    x, w = _t((2, 4, 4, 3)), _t((4, 3, 3, 3))
    fn = lambda x, w: F.conv_transpose2d(x, w, **kw)  # noqa: E731
    assert gradcheck(fn, (x, w))
    assert gradgradcheck(fn, (x, w))


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                     count_include_pad=False)])
def test_avg_pool2d_derivatives(kw):
    x = _t((2, 3, 7, 6))
    fn = lambda z: F.avg_pool2d(z, **kw)  # noqa: E731
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_batch_norm_training_derivatives():
    x, w, b = _t((4, 3, 2, 2)), _t((3,)), _t((3,))
    fn = lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)  # noqa: E731
    assert fn(x, w, b).grad_fn.name() == "NativeBatchNormBackward0"
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


def test_layer_norm_derivatives():
    x, w, b = _t((3, 2, 5)), _t((5,)), _t((5,))
    fn = lambda x, w, b: F.layer_norm(x, (5,), w, b)  # noqa: E731
    assert fn(x, w, b).grad_fn.name() == "NativeLayerNormBackward0"
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


def test_linear_derivatives():
    x, w, b = _t((2, 3, 4)), _t((5, 4)), _t((5,))
    assert gradcheck(F.linear, (x, w, b))
    assert gradgradcheck(F.linear, (x, w, b))
    assert gradgradcheck(F.linear, (x, w))
