"""Probability distributions with reparameterised sampling (``torch.distributions``).

Loaded on first use of ``ember.distributions``. Every distribution is composed of ember tensor ops, so
``log_prob``, ``entropy``, ``mean`` and ``rsample`` are differentiable in their parameters (``rsample``
is reparameterised: ``loc + eps * scale``), while ``sample`` runs under ``no_grad``::

    import ember as torch
    from ember.distributions import Normal, kl_divergence

    loc = torch.zeros(3, requires_grad=True)
    q = Normal(loc, torch.ones(3))
    z = q.rsample((5,))                 # shape (5, 3), differentiable in loc
    loss = -q.log_prob(z).sum() + kl_divergence(q, Normal(0.0, 1.0)).sum()
    loss.backward()

Provided: ``Distribution``, ``Normal``, ``Bernoulli``, ``Categorical``, ``OneHotCategorical``,
``Uniform``, ``Laplace``, ``Exponential``, ``MultivariateNormal``, ``Independent``, ``constraints``,
``kl_divergence`` / ``register_kl``. Other torch distributions (Gamma, Beta, Dirichlet, transforms ...)
are not provided yet.
"""
from . import constraints
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .exponential import Exponential
from .independent import Independent
from .kl import kl_divergence, register_kl
from .laplace import Laplace
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .uniform import Uniform

__all__ = [
    "Bernoulli", "Categorical", "Distribution", "Exponential", "Independent", "Laplace", "MultivariateNormal",
    "Normal", "OneHotCategorical", "Uniform", "constraints", "kl_divergence", "register_kl",
]
