"""The compatibility surface old and device-agnostic PyTorch code reaches for, against torch:
legacy tensor types, ``device`` objects for devices this build cannot use, the errors when
data would move there, ``accelerator``, ``backends``, the default device, ``DataParallel``.

Each probe runs in both libraries and must give the same result, or raise the same
exception class with the same message.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402


def outcome(fn, lib):
    """What ``fn(lib)`` gives, in a form both libraries can be compared by."""
    try:
        r = fn(lib)
    except BaseException as e:  # noqa: BLE001 - the exception is the outcome being compared
        return ("raises", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    return ("gives", _plain(r))


def _plain(r):
    if isinstance(r, (torch.Tensor, tg.Tensor)):
        return ("tensor", tuple(r.shape), str(r.dtype), r.detach().numpy().tolist()
                if str(r.dtype) != "torch.float16" else None)
    if isinstance(r, (tuple, list)):
        return tuple(_plain(x) for x in r)
    if isinstance(r, (torch.dtype, tg.dtype)):
        return str(r)
    if isinstance(r, (torch.device, tg.device)):
        return ("device", repr(r), str(r), r.type, r.index)
    return r


def check(fn):
    assert outcome(fn, tg) == outcome(fn, torch)


# ------------------------------------------------------------------------------ legacy types
LEGACY = {
    "size": lambda L: L.FloatTensor(2, 3).shape,
    "size-dtype": lambda L: L.DoubleTensor(2, 3).dtype,
    "torch.Size": lambda L: L.FloatTensor(L.Size([2, 2])).shape,
    "empty-Size": lambda L: L.FloatTensor(L.Size([])).shape,
    "data": lambda L: L.FloatTensor([1, 2]),
    "data-truncates": lambda L: L.LongTensor([1.7, 2]),
    "data-tuple": lambda L: L.FloatTensor((1, 2)),
    "empty-tuple-is-data": lambda L: L.FloatTensor(()),
    "numpy": lambda L: L.FloatTensor(np.array([1, 2])),
    "no-args": lambda L: L.LongTensor(),
    "bool": lambda L: L.BoolTensor([1, 0]),
    "int": lambda L: L.IntTensor([1, 2]),
    "short": lambda L: L.ShortTensor(1, 1).shape,
    "char": lambda L: L.CharTensor([1, -2]),
    "byte": lambda L: L.ByteTensor(2).shape,
    "half": lambda L: L.HalfTensor([1, 2]).dtype,
    "from-tensor-same-dtype": lambda L: L.FloatTensor(L.tensor([1.0, 2.0])),
    "from-tensor-other-dtype": lambda L: L.FloatTensor(L.tensor([1, 2])),
    "device-cpu": lambda L: L.FloatTensor([1, 2], device="cpu"),
    "device-cuda": lambda L: L.FloatTensor(2, device="cuda"),
    "negative-size": lambda L: L.FloatTensor(-1),
    "float-in-size": lambda L: L.FloatTensor(2, 3.0),
    "list-in-size": lambda L: L.FloatTensor(2, [3]),
    "string": lambda L: L.FloatTensor("a"),
    "bool-scalar": lambda L: L.FloatTensor(True),
    "none": lambda L: L.FloatTensor(None),
    "numpy-scalar": lambda L: L.FloatTensor(np.float64(2.5)),
    "requires_grad-keyword": lambda L: L.FloatTensor(2, requires_grad=True),
    "cuda-type": lambda L: L.cuda.FloatTensor(2),
    "isinstance": lambda L: (isinstance(L.zeros(2), L.FloatTensor), isinstance(L.zeros(2), L.DoubleTensor),
                             isinstance(L.zeros(2).double(), L.DoubleTensor),
                             isinstance(L.zeros(2, dtype=L.int64), L.LongTensor),
                             isinstance(L.nn.Parameter(L.zeros(2)), L.FloatTensor),
                             isinstance(3, L.FloatTensor), isinstance(L.zeros(2), L.cuda.FloatTensor),
                             issubclass(L.FloatTensor, L.Tensor)),
    "type-names": lambda L: [L.zeros(1, dtype=d).type() for d in (
        L.float32, L.float64, L.float16, L.int64, L.int32, L.int16, L.int8, L.uint8, L.bool, L.uint16)],
    "type-by-name": lambda L: L.zeros(2).type("torch.DoubleTensor"),
    "type-by-class": lambda L: L.zeros(2).type(L.LongTensor),
    "type-by-dtype": lambda L: L.zeros(2).type(L.float64),
    "type-same-is-self": lambda L: [(lambda t: t.type(s) is t)(L.zeros(2))
                                    for s in ("torch.FloatTensor", L.FloatTensor, L.float32)],
    "type-short-name": lambda L: L.zeros(2).type("FloatTensor"),
    "type-unknown": lambda L: L.zeros(2).type("foo"),
    "type-python-type": lambda L: L.zeros(2).type(int),
    "type-number": lambda L: L.zeros(2).type(3),
    "type-dtype-name": lambda L: L.zeros(2).type("torch.float64"),
    "class-attributes": lambda L: (repr(L.FloatTensor), L.FloatTensor.__name__, str(L.FloatTensor.dtype),
                                   L.FloatTensor.is_cuda),
    "module-type": lambda L: L.nn.Linear(2, 2).type(L.DoubleTensor).weight.dtype,
}


@pytest.mark.parametrize("name", list(LEGACY))
def test_legacy_types(name):
    check(LEGACY[name])


# ------------------------------------------------------------------------------ devices
DEVICE_STRINGS = ["cuda", "cuda:1", "cuda:0", "mps", "xpu", "meta", "cpu", "cpu:0", "hpu", "CUDA",
                  "cuda:-1", "cuda:x", "foo", "cuda: 1", "cuda:01", ""]
DEVICES = {f"parse-{s!r}": (lambda L, s=s: L.device(s)) for s in DEVICE_STRINGS}
DEVICES.update({
    "type-and-index": lambda L: L.device("cuda", 0),
    "negative-index": lambda L: L.device("cuda", -1),
    "cpu-index": lambda L: L.device("cpu", 0),
    "index-twice": lambda L: L.device("cuda:1", 2),
    "bare-index": lambda L: L.device(0),
    "float": lambda L: L.device(3.0),
    "string-index": lambda L: L.device("cuda", "a"),
    "copy": lambda L: L.device(L.device("cuda:1")),
    "keywords": lambda L: L.device(type="cuda", index=2),
    "equality": lambda L: (L.device("cuda") == L.device("cuda:0"), L.device("cuda") == "cuda",
                           L.device("cpu") == L.device("cpu"), L.device("cpu:0") == L.device("cpu", 0),
                           L.device("cuda:1") != L.device("cuda:2")),
    "hash": lambda L: (hash(L.device("cuda:1")) == hash(L.device("cuda", 1)),
                       {L.device("cpu"): 1}[L.device("cpu")]),
    "pickle": lambda L: pickle.loads(pickle.dumps(L.device("cuda", 1))),
    "guard": lambda L: L.cuda.is_available() & (L.device("cuda").index is not None),
    "to-cuda": lambda L: L.zeros(2).to("cuda"),
    "to-cuda-device": lambda L: L.zeros(2).to(L.device("cuda:1")),
    "to-device-keyword": lambda L: L.zeros(2).to(device="cuda"),
    "dot-cuda": lambda L: L.zeros(2).cuda(),
    "zeros-on-cuda": lambda L: L.zeros(2, device="cuda"),
    "randn-on-cuda": lambda L: L.randn(2, device="cuda"),
    "tensor-on-cuda": lambda L: L.tensor([1.0], device="cuda"),
    "to-mps": lambda L: L.zeros(2).to("mps"),
    "to-xpu": lambda L: L.zeros(2).to("xpu"),
    "module-cuda": lambda L: L.nn.Linear(2, 2).cuda(),
    "module-to-cuda": lambda L: L.nn.Linear(2, 2).to("cuda"),
    "to-cpu": lambda L: L.zeros(2).to("cpu"),
    "tensor-device": lambda L: L.zeros(2).device,
    "flags": lambda L: (lambda t: (t.is_cuda, t.is_xpu, t.is_mps, t.is_meta, t.is_quantized, t.is_sparse,
                                   t.is_cpu))(L.zeros(2)),
})


@pytest.mark.parametrize("name", list(DEVICES))
def test_devices(name):
    check(DEVICES[name])


# ------------------------------------------------------------------------------ accelerator, backends
QUERIES = {
    "accelerator": lambda L: (L.accelerator.is_available(), L.accelerator.current_accelerator(),
                              L.accelerator.device_count()),
    "accelerator-index": lambda L: L.accelerator.current_device_index(),
    "accelerator-synchronize": lambda L: L.accelerator.synchronize(),
    "cudnn": lambda L: (L.backends.cudnn.enabled, L.backends.cudnn.benchmark, L.backends.cudnn.deterministic,
                        L.backends.cudnn.is_available(), L.backends.cudnn.version()),
    "mps": lambda L: (L.backends.mps.is_available(), L.backends.mps.is_built()),
    "cuda-built": lambda L: (L.backends.cuda.is_built(), L.backends.cuda.matmul.allow_tf32),
    "cuda-module": lambda L: (L.cuda.is_available(), L.cuda.device_count()),
    "default-device": lambda L: L.get_default_device(),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_queries(name):
    check(QUERIES[name])


def test_cudnn_flags_are_stored_and_restored():
    for L in (tg, torch):
        before = L.backends.cudnn.benchmark
        L.backends.cudnn.benchmark = True
        assert L.backends.cudnn.benchmark is True
        with L.backends.cudnn.flags(enabled=False):
            assert L.backends.cudnn.enabled is False
        assert L.backends.cudnn.enabled is True
        L.backends.cudnn.benchmark = before


DEFAULT_DEVICE = {
    "cpu": lambda L: (L.set_default_device("cpu"), L.get_default_device(), L.zeros(1).device),
    "cpu-0": lambda L: (L.set_default_device(L.device("cpu", 0)), L.get_default_device()),
    "cuda-then-create": lambda L: (L.set_default_device("cuda"), L.zeros(2)),
    "cuda-then-tensor": lambda L: (L.set_default_device("cuda"), L.tensor([1.0])),
    "cuda-get": lambda L: (L.set_default_device("cuda"), L.get_default_device()),
    "cuda-1-get": lambda L: (L.set_default_device("cuda:1"), L.get_default_device()),
    "reset": lambda L: (L.set_default_device("cuda"), L.set_default_device(None), L.get_default_device()),
    "bad-string": lambda L: L.set_default_device("foo"),
    "bare-index": lambda L: L.set_default_device(3),
}


@pytest.mark.parametrize("name", list(DEFAULT_DEVICE))
def test_default_device(name):
    try:
        check(DEFAULT_DEVICE[name])
    finally:
        tg.set_default_device(None)
        torch.set_default_device(None)


# ------------------------------------------------------------------------------ DataParallel
def test_data_parallel_wraps_and_calls_the_module():
    results = []
    for L in (tg, torch):
        L.manual_seed(0)
        inner = L.nn.Linear(2, 3)
        m = L.nn.DataParallel(inner)
        x = L.ones(4, 2)
        out = m(x)
        results.append((repr(m), list(m.state_dict()), m.device_ids, tuple(out.shape), out.grad_fn.name(),
                        L.nn.DataParallel is L.nn.parallel.DataParallel, m.module is inner,
                        np.allclose(out.detach().numpy(), inner(x).detach().numpy())))
        m2 = L.nn.DataParallel(L.nn.Linear(2, 3), device_ids=[0, 1], output_device=0, dim=1)
        results.append(m2.device_ids)
    assert results[:2] == results[2:]


def test_data_parallel_checkpoint_moves_both_ways():
    """A wrapped model's state_dict (``module.`` keys) loads into the other library's wrapper."""
    ours = tg.nn.DataParallel(tg.nn.Linear(2, 3))
    theirs = torch.nn.DataParallel(torch.nn.Linear(2, 3))
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.ones((1, 2), np.float32)
    np.testing.assert_allclose(theirs(torch.tensor(x)).detach().numpy(), ours(tg.tensor(x)).detach().numpy(),
                               rtol=1e-6)


# torch's module-level in-place functions, each with the extra arguments it needs
_INPLACE_FUNCTIONS = {
    "abs_": (), "acos_": (), "arccos_": (), "arcsin_": (), "arctan_": (), "asin_": (), "atan_": (),
    "ceil_": (), "clamp_": (-0.3, 0.4), "clamp_max_": (0.2,), "clamp_min_": (-0.1,), "clip_": (-0.3, 0.4),
    "cos_": (), "cosh_": (), "deg2rad_": (), "rad2deg_": (), "asinh_": (), "acosh_": (), "atanh_": (),
    "arcsinh_": (), "arctanh_": (), "erf_": (), "erfc_": (), "exp2_": (), "exp_": (), "expm1_": (),
    "fill_": (1.5,), "fix_": (), "floor_": (), "frac_": (), "i0_": (), "log10_": (), "log1p_": (),
    "log2_": (), "log_": (), "logit_": (), "nan_to_num_": (), "neg_": (), "negative_": (),
    "reciprocal_": (), "relu_": (), "round_": (), "rsqrt_": (), "sigmoid_": (), "sin_": (),
    "sinc_": (), "sinh_": (), "sqrt_": (), "square_": (), "tan_": (), "tanh_": (), "trunc_": (),
    "zero_": (),
}


@pytest.mark.parametrize("name", sorted(_INPLACE_FUNCTIONS))
def test_module_level_inplace_functions(name):
    """``torch.relu_(x)`` and its kind: the tensor written in place and returned, as torch."""
    x = np.array([0.25, 0.5, 0.75, 0.9], dtype=np.float64)
    args = _INPLACE_FUNCTIONS[name]
    ours, theirs = tg.tensor(x.copy()), torch.tensor(x.copy())
    r_ours, r_theirs = getattr(tg, name)(ours, *args), getattr(torch, name)(theirs, *args)
    assert r_ours is ours and r_theirs is theirs
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-15)
    assert ours._version == 1


def test_module_level_inplace_functions_with_tensor_arguments():
    a, b = (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -1.0]))
    for lib in (tg, torch):
        y = lib.tensor([1.0, 1.0], dtype=lib.float64)
        assert lib.addmv_(y, lib.tensor(a), lib.tensor(b)) is y
        z = lib.tensor([0.0, 2.0])
        lib.xlogy_(z, lib.tensor([3.0, 3.0]))
        w = lib.tensor([0.0, 0.0, 0.0])
        lib.index_put_(w, (lib.tensor([0, 2]),), lib.tensor([5.0, 6.0]))
        d = lib.ones(2, requires_grad=True) * 2
        lib.detach_(d)
        if lib is tg:
            ours = (y.numpy(), z.numpy(), w.numpy(), d.requires_grad)
        else:
            theirs = (y.numpy(), z.numpy(), w.numpy(), d.requires_grad)
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o, t, rtol=1e-12)


@pytest.mark.parametrize("name", ["float16", "float32", "float64", None])
def test_finfo(name):
    ours = tg.finfo(getattr(tg, name)) if name else tg.finfo()
    theirs = torch.finfo(getattr(torch, name)) if name else torch.finfo()
    assert repr(ours) == repr(theirs)
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
        assert type(getattr(ours, attr)) is type(getattr(theirs, attr)), attr
    assert ours == (tg.finfo(getattr(tg, name)) if name else tg.finfo())


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo(name):
    ours, theirs = tg.iinfo(getattr(tg, name)), torch.iinfo(getattr(torch, name))
    assert repr(ours) == repr(theirs)
    for attr in ("bits", "max", "min", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
        assert type(getattr(ours, attr)) is type(getattr(theirs, attr)), attr


@pytest.mark.parametrize("probe", [
    lambda L: L.finfo(L.int32), lambda L: L.iinfo(L.float32), lambda L: L.iinfo(L.bool),
    lambda L: L.finfo(3), lambda L: L.iinfo("int32"),
], ids=["finfo-int", "iinfo-float", "iinfo-bool", "finfo-int-arg", "iinfo-str"])
def test_finfo_iinfo_errors(probe):
    assert outcome(probe, tg) == outcome(probe, torch)


@pytest.mark.parametrize("probe", [
    lambda L: L.Tensor(), lambda L: tuple(L.Tensor(2, 3).shape), lambda L: L.Tensor([1.5, 2]),
    lambda L: L.FloatTensor(),
    lambda L: L.ones(()), lambda L: L.zeros([]),
], ids=["Tensor()", "Tensor(2,3)", "Tensor(list)", "FloatTensor()", "ones(())", "zeros([])"])
def test_constructors_without_sizes(probe):
    assert outcome(probe, tg) == outcome(probe, torch)
