"""``tapegrad.special``: PyTorch's ``torch.special`` namespace.

Most names are the same public ops as ``tapegrad.<name>`` (``special.gammaln is
tapegrad.lgamma``); the functions PyTorch keeps only here (``i0e``, ``i1``, ``ndtri``,
``erfcx``, ``log_ndtr``, ``entr``, ``xlog1py``, ``gammainc``...) are units of
``ops/special.py`` declared without a ``tapegrad.<name>`` export.

>>> import tapegrad
>>> tapegrad.special.ndtri(tapegrad.tensor([0.5, 0.975]))
tensor([0.0000, 1.9600])
"""
from __future__ import annotations

import math

from .ops import _registry

#: ``tapegrad.special`` name -> the registered op it is (one callable, not a wrapper); the
#: second line's ops are declared in ops/special.py without a top-level export, as in PyTorch
_SAME_AS = dict(pair.split("=") for pair in """
    erf=erf erfc=erfc erfinv=erfinv expit=sigmoid exp2=exp2 expm1=expm1 log1p=log1p gammaln=lgamma
    digamma=digamma psi=digamma polygamma=polygamma i0=i0 sinc=sinc xlogy=xlogy logsumexp=logsumexp
    erfcx=erfcx ndtri=ndtri log_ndtr=log_ndtr i0e=i0e i1=i1 i1e=i1e entr=entr xlog1py=xlog1py
    gammainc=gammainc gammaincc=gammaincc
""".split())  # noqa: SIM905 (one literal, not 25 string tokens)
globals().update({name: _registry.get(target).public for name, target in _SAME_AS.items()})

__all__ = sorted([*_SAME_AS, "logit", "multigammaln", "ndtr", "round", "softmax", "log_softmax"])


def _public(name):
    return _registry.get(name).public


def logit(input, eps=None):
    """``log(p / (1 - p))`` after clamping to ``[eps, 1 - eps]`` when ``eps`` is given."""
    return _public("logit")(input, eps)


def multigammaln(input, p):
    """The multivariate log-gamma function of dimension ``p`` (``tapegrad.mvlgamma``)."""
    return _public("mvlgamma")(input, p)


def ndtr(input):
    """The standard normal CDF, ``erfc(-x / sqrt 2) / 2`` (accurate in the left tail)."""
    return _public("erfc")(input * -math.sqrt(0.5)) * 0.5


def round(input, *, decimals=0):
    """Rounds half to even, like ``tapegrad.round``."""
    return _public("round")(input, decimals=decimals)


def softmax(input, dim, *, dtype=None):
    """``tapegrad.softmax`` with ``dim`` required."""
    return _public("softmax")(input, dim, dtype=dtype)


def log_softmax(input, dim, *, dtype=None):
    """``tapegrad.log_softmax`` with ``dim`` required."""
    return _public("log_softmax")(input, dim, dtype=dtype)
