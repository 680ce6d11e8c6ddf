"""``tapegrad.distributions``: PyTorch's ``torch.distributions``.

Each distribution is a batch of one family, with ``sample``/``rsample`` (drawn from
tapegrad's generator, so ``tapegrad.manual_seed`` makes draws repeatable), ``log_prob``,
``entropy``, moments and, where PyTorch has them, ``cdf``/``icdf``; ``kl_divergence`` has
the closed forms of ``kl.py``.

>>> import tapegrad
>>> from tapegrad.distributions import Normal, kl_divergence
>>> kl_divergence(Normal(0.0, 1.0), Normal(1.0, 1.0))
tensor(0.5000)
"""
from . import constraints
from .continuous import Exponential, Laplace, Normal, Uniform
from .discrete import Bernoulli, Binomial, Categorical, OneHotCategorical, Poisson
from .distribution import Distribution
from .gamma import Beta, Dirichlet, Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .multivariate_normal import MultivariateNormal

__all__ = [
    "Bernoulli", "Beta", "Binomial", "Categorical", "Dirichlet", "Distribution", "Exponential",
    "Gamma", "Independent", "Laplace", "MultivariateNormal", "Normal", "OneHotCategorical",
    "Poisson", "Uniform", "constraints", "kl_divergence", "register_kl",
]
