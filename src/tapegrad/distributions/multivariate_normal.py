"""The multivariate normal, parametrised by a covariance, a precision or a Cholesky factor."""
from __future__ import annotations

import math

import numpy as np

import tapegrad as _tg
from ..tensor import Tensor, Size
from . import constraints
from .distribution import Distribution, _describe
from .utils import lazy_property

__all__ = ["MultivariateNormal"]


def _batch_mv(bmat, bvec):
    return (bmat @ bvec.unsqueeze(-1)).squeeze(-1)


def _batch_mahalanobis(bL, bx):
    """``x^T (L L^T)^-1 x`` for a lower-triangular ``L``, broadcasting their batch dims."""
    n = bx.size(-1)
    batch = _tg.broadcast_shapes(tuple(bL.shape[:-2]), tuple(bx.shape[:-1]))
    L = bL.expand(tuple(batch) + (n, n))
    x = bx.expand(tuple(batch) + (n,))
    sol = _tg.linalg.solve_triangular(L, x.unsqueeze(-1), upper=False).squeeze(-1)
    return sol.pow(2).sum(-1)


def _precision_to_scale_tril(P):
    """A lower Cholesky factor of ``P^-1``: reversing rows and columns of the Cholesky factor
    of the reversed ``P`` gives an upper factor ``U`` with ``P = U U^T``, so ``L = U^-T``."""
    Lf = _tg.linalg.cholesky(_tg.flip(P, (-2, -1)))
    L_inv = _tg.flip(Lf, (-2, -1)).mT
    eye = _tg.eye(P.shape[-1], dtype=P.dtype)
    return _tg.linalg.solve_triangular(L_inv, eye.expand(L_inv.shape), upper=False)


class MultivariateNormal(Distribution):
    """``N(loc, Sigma)`` over vectors of size ``n``; give exactly one of
    ``covariance_matrix``, ``precision_matrix`` or ``scale_tril`` (each ``(..., n, n)``).
    """

    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if (covariance_matrix is not None) + (scale_tril is not None) + (precision_matrix is not None) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril "
                             "may be specified.")
        for name, m in (("scale_tril matrix", scale_tril), ("covariance_matrix", covariance_matrix),
                        ("precision_matrix", precision_matrix)):
            if m is not None and m.dim() < 2:
                raise ValueError(f"{name} must be at least two-dimensional, "
                                 f"with optional leading batch dimensions")
        given = scale_tril if scale_tril is not None else \
            covariance_matrix if covariance_matrix is not None else precision_matrix
        batch_shape = _tg.broadcast_shapes(tuple(given.shape[:-2]), tuple(loc.shape[:-1]))
        mat_shape = tuple(batch_shape) + (-1, -1)
        if scale_tril is not None:
            self.scale_tril = scale_tril.expand(mat_shape)
        elif covariance_matrix is not None:
            self.covariance_matrix = covariance_matrix.expand(mat_shape)
        else:
            self.precision_matrix = precision_matrix.expand(mat_shape)
        self.loc = loc.expand(tuple(batch_shape) + (-1,))
        super().__init__(batch_shape, self.loc.shape[-1:], validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = _tg.linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)

    def __repr__(self):
        names = [k for k in ("loc", "covariance_matrix", "precision_matrix", "scale_tril")
                 if k in self.__dict__]
        return f"MultivariateNormal({_describe(self, names)})"

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = Size(batch_shape)
        loc_shape = batch_shape + self.event_shape
        cov_shape = batch_shape + self.event_shape + self.event_shape
        new.loc = self.loc.expand(loc_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for n in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if n in self.__dict__:
                setattr(new, n, getattr(self, n).expand(cov_shape))
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(self._batch_shape + self._event_shape * 2)

    @lazy_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return (L @ L.mT).expand(self._batch_shape + self._event_shape + self._event_shape)

    @lazy_property
    def precision_matrix(self):
        L = self._unbroadcasted_scale_tril
        eye = _tg.eye(L.shape[-1], dtype=L.dtype)
        L_inv = _tg.linalg.solve_triangular(L, eye.expand(L.shape), upper=False)
        return (L_inv.mT @ L_inv).expand(self._batch_shape + self._event_shape + self._event_shape)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(self._batch_shape + self._event_shape)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = np.asarray(self._generator().standard_normal(tuple(shape)))
        eps = Tensor._wrap(eps.astype(self.loc.dtype.np))
        return self.loc + _batch_mv(self._unbroadcasted_scale_tril, eps)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        M = _batch_mahalanobis(self._unbroadcasted_scale_tril, diff)
        half_log_det = self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + M) - half_log_det

    def entropy(self):
        half_log_det = self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        H = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + half_log_det
        return H if len(self._batch_shape) == 0 else H.expand(self._batch_shape)
