"""tapegrad: PyTorch's API and PyTorch's numbers, with only NumPy installed.

>>> import tapegrad as torch
>>> a = torch.tensor([2., 3.], requires_grad=True)
>>> (3 * a ** 3).sum().backward()
>>> a.grad
tensor([36., 81.])
"""
from __future__ import annotations

import warnings as _warnings

__version__ = "0.1.0"

# NOTE: autograd first: its graph module imports Tensor, and tensor.py needs only
# autograd.grad_mode and autograd._version (see docs/architecture.md).
from . import autograd  # noqa: E402
from . import backend, dtypes  # noqa: E402
from .tensor import Tensor, Size, device  # noqa: E402
from . import ops  # noqa: E402
from . import _tensor_methods  # noqa: E402,F401
from .dtypes import (  # noqa: E402
    bool_ as bool, uint8, uint16, uint32, uint64, int8, int16, int32, int64, float16, float32, float64,
    half, float, double, short, int, long, dtype, get_default_dtype, set_default_dtype,
    promote_types, finfo, iinfo,
)
from .autograd.grad_mode import (  # noqa: E402
    no_grad, enable_grad, set_grad_enabled, inference_mode, is_grad_enabled,
    is_inference_mode_enabled,
)
from .creation import (  # noqa: E402
    Generator, default_generator, manual_seed, seed, initial_seed, get_rng_state, set_rng_state,
    tensor, as_tensor, asarray, from_numpy, zeros, ones, empty, full, zeros_like, ones_like,
    empty_like, full_like, arange, linspace, logspace, eye, rand, randn, rand_like, randn_like,
    randint, randint_like, randperm, normal, bernoulli, multinomial, poisson,
)
# Every op (``add``, ``sum``, ``cat``...) and its aliases, from the declarations in ops/*.py.
from .ops import _registry  # noqa: E402
globals().update(_registry.exports())
# The ``*_like`` creation functions read a tensor's shape, so transforms (vmap) must see them
# too: through the dispatch point like the ops. (Added by the dispatch helper; see ops/_dispatch.py.)
from .ops import _dispatch  # noqa: E402
for _name in ("zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like",
              "randint_like"):
    globals()[_name] = _dispatch.public(globals()[_name], _name, "creation")
del _name
# torch's module-level in-place functions (``torch.relu_(x)``, ``torch.sigmoid_(x)``...): the
# Tensor methods themselves, for the names torch exposes so (not every method has one).
for _name in ("abs_", "acos_", "acosh_", "addmv_", "arccos_", "arccosh_", "arcsin_", "arcsinh_",
              "arctan_", "arctanh_", "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_",
              "clamp_max_", "clamp_min_", "clip_", "copysign_", "cos_", "cosh_", "deg2rad_",
              "detach_", "erf_", "erfc_", "exp2_", "exp_", "expm1_", "fill_", "fix_", "floor_",
              "frac_", "gcd_", "i0_", "index_put_", "lcm_", "ldexp_", "log10_", "log1p_", "log2_",
              "log_", "logit_", "nan_to_num_", "neg_", "negative_", "rad2deg_", "reciprocal_",
              "relu_", "round_", "rsqrt_", "sigmoid_", "sin_", "sinc_", "sinh_", "sqrt_",
              "square_", "tan_", "tanh_", "trunc_", "xlogy_", "zero_"):
    globals()[_name] = getattr(Tensor, _name)
del _name
from .ops.reduction import return_types  # noqa: E402
from ._printing import set_printoptions, get_printoptions  # noqa: E402
from .io import save, load  # noqa: E402
from .creation import set_default_device, get_default_device  # noqa: E402
from ._legacy import TYPES as _LEGACY_TYPES  # noqa: E402
globals().update(_LEGACY_TYPES)  # FloatTensor, LongTensor... (legacy constructors, isinstance by dtype)

# NumPy reports overflow/invalid/divide-by-zero as RuntimeWarnings; PyTorch returns
# inf/nan silently. Silence them only where tapegrad's own modules compute.
_warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tapegrad(\..*)?$")


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(input) -> bool:
    return input.is_floating_point()


def numel(input) -> int:
    return input.numel()


def result_type(tensor1, tensor2):
    return dtypes.result_type(tensor1, tensor2)


def can_cast(from_, to) -> bool:
    cat = {"b": 0, "u": 1, "i": 1, "f": 2}
    return cat[from_.np.kind] <= cat[to.np.kind]


def is_grad_enabled_() -> bool:  # pragma: no cover - alias kept private
    return is_grad_enabled()


def detach(input):
    return input.detach()


def softmax_(input, dim):  # pragma: no cover
    return _registry.get("softmax").public(input, dim)


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Accepted for compatibility: tapegrad's CPU kernels are deterministic already."""


from . import _threads  # noqa: E402
from ._threads import (get_num_interop_threads, get_num_threads,  # noqa: E402
                       set_num_interop_threads, set_num_threads)
_threads.apply_default()
from . import _allocator  # noqa: E402
_allocator.tune()


_SUBMODULES = ("nn", "optim", "vision", "utils", "io", "autograd", "viz", "cuda", "profiler", "func",
               "accelerator", "backends", "special", "distributions", "linalg")


def __getattr__(name):
    # Heavier subpackages load on first use (``tapegrad.nn``), like attributes of torch.
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tapegrad' has no attribute '{name}'")
