"""ember.distributions against torch.distributions: values and gradients of log_prob / entropy / moments /
cdf / KL (float32 and float64, gradcheck in float64), sample shapes, sampling statistics, validation."""
import subprocess
import sys

import numpy as np
import pytest
import torch

import ember
from tests._helpers import case, check


def _tril(L, A, d):
    return L.tril(A, -1) + L.diag_embed(L.exp(d))


def _normal(L, loc, s, v):
    d = L.distributions.Normal(loc, s.exp())
    return d.log_prob(v), d.entropy(), d.mean, d.variance, d.stddev, d.cdf(v), d.icdf(L.sigmoid(v))


def _laplace(L, loc, s, v):
    d = L.distributions.Laplace(loc, s.exp())
    return d.log_prob(v), d.entropy(), d.mean, d.variance, d.stddev, d.cdf(v), d.icdf(L.sigmoid(v))


def _exponential(L, r, v):
    d = L.distributions.Exponential(r.exp())
    return d.log_prob(v.abs()), d.entropy(), d.mean, d.variance, d.stddev, d.cdf(v.abs()), d.icdf(L.sigmoid(v))


def _uniform(L, a, b, v):
    lo, hi = a, a + b.exp()
    d = L.distributions.Uniform(lo, hi)
    x = lo + L.sigmoid(v) * (hi - lo)
    return d.log_prob(x), d.entropy(), d.mean, d.variance, d.stddev, d.cdf(x), d.icdf(L.sigmoid(v))


def _bernoulli_probs(L, x, v):
    d = L.distributions.Bernoulli(probs=L.sigmoid(x))
    value = (v > 0).to(x.dtype)
    return d.log_prob(value), d.entropy(), d.mean, d.variance, d.logits


def _bernoulli_logits(L, x, v):
    d = L.distributions.Bernoulli(logits=x)
    value = (v > 0).to(x.dtype)
    return d.log_prob(value), d.entropy(), d.mean, d.variance, d.probs


def _categorical_logits(L, x, v):
    d = L.distributions.Categorical(logits=x)
    return d.log_prob(v), d.entropy(), d.probs, d.logits


def _categorical_probs(L, x, v):
    d = L.distributions.Categorical(probs=x.exp())
    return d.log_prob(v), d.entropy(), d.probs, d.logits


def _one_hot(L, x, v):
    d = L.distributions.OneHotCategorical(logits=x)
    value = L.nn.functional.one_hot(v, 4).to(x.dtype)
    return d.log_prob(value), d.entropy(), d.mean, d.variance


def _mvn_tril(L, loc, A, dg, v):
    d = L.distributions.MultivariateNormal(loc, scale_tril=_tril(L, A, dg))
    return d.log_prob(v), d.entropy(), d.variance, d.covariance_matrix, d.precision_matrix, d.mean


def _mvn_cov(L, loc, A, v):
    cov = A @ A.mT + L.eye(3, dtype=A.dtype)
    d = L.distributions.MultivariateNormal(loc, covariance_matrix=cov)
    return d.log_prob(v), d.entropy(), d.variance, d.scale_tril


def _mvn_prec(L, loc, A, v):
    prec = A @ A.mT + L.eye(3, dtype=A.dtype)
    d = L.distributions.MultivariateNormal(loc, precision_matrix=prec)
    return d.log_prob(v), d.entropy(), d.covariance_matrix


def _independent(L, loc, s, v):
    d = L.distributions.Independent(L.distributions.Normal(loc, s.exp()), 1)
    return d.log_prob(v), d.entropy(), d.mean, d.variance


IDX = np.array([[0, 3, 1], [2, 2, 0]])

CASES = [
    case(_normal, (2, 3), (2, 3), (2, 3), id="normal"),
    case(_normal, (3,), (1,), (4, 3), id="normal-broadcast"),
    case(_laplace, (2, 3), (2, 3), (2, 3), id="laplace"),
    case(_exponential, (4,), (4,), id="exponential"),
    case(_uniform, (2, 3), (2, 3), (2, 3), id="uniform"),
    case(_bernoulli_probs, (5,), (5,), id="bernoulli-probs"),
    case(_bernoulli_logits, (2, 3), (2, 3), id="bernoulli-logits"),
    case(_categorical_logits, (2, 3, 4), IDX, id="categorical-logits"),
    case(_categorical_probs, (2, 3, 4), IDX, id="categorical-probs"),
    case(_one_hot, (2, 3, 4), IDX, id="one-hot-categorical"),
    case(_mvn_tril, (2, 3), (3, 3), (3,), (4, 2, 3), id="mvn-scale-tril"),
    case(_mvn_cov, (3,), (2, 3, 3), (2, 3), id="mvn-covariance"),
    case(_mvn_prec, (3,), (3, 3), (3,), id="mvn-precision"),
    case(_independent, (3, 2), (3, 2), (3, 2), id="independent"),
]


@pytest.mark.parametrize("fn,inputs,kw", CASES)
def test_values_and_gradients_match_torch(fn, inputs, kw):
    check(fn, *inputs, gradgrad=False, **kw)


def _kl(p, q):
    def fn(L, *xs):
        D = L.distributions
        return D.kl_divergence(p(L, D, *xs), q(L, D, *xs))
    return fn


KL_CASES = [
    case(_kl(lambda L, D, a, b, c, d: D.Normal(a, b.exp()), lambda L, D, a, b, c, d: D.Normal(c, d.exp())),
         (2, 3), (2, 3), (3,), (2, 3), id="normal-normal"),
    case(_kl(lambda L, D, a, b: D.Bernoulli(logits=a), lambda L, D, a, b: D.Bernoulli(probs=L.sigmoid(b))),
         (4,), (4,), id="bernoulli-bernoulli"),
    case(_kl(lambda L, D, a, b: D.Categorical(logits=a), lambda L, D, a, b: D.Categorical(probs=b.exp())),
         (2, 5), (2, 5), id="categorical-categorical"),
    case(_kl(lambda L, D, a, b: D.OneHotCategorical(logits=a), lambda L, D, a, b: D.OneHotCategorical(logits=b)),
         (5,), (5,), id="onehot-onehot"),
    case(_kl(lambda L, D, a, b, c, d: D.Uniform(a, a + b.exp()), lambda L, D, a, b, c, d: D.Uniform(a - c.exp(),
                                                                                                    a + b.exp() + d.exp())),
         (3,), (3,), (3,), (3,), id="uniform-uniform"),
    case(_kl(lambda L, D, a, b, c, d: D.Laplace(a, b.exp()), lambda L, D, a, b, c, d: D.Laplace(c, d.exp())),
         (3,), (3,), (3,), (3,), id="laplace-laplace"),
    case(_kl(lambda L, D, a, b: D.Exponential(a.exp()), lambda L, D, a, b: D.Exponential(b.exp())),
         (3,), (3,), id="exponential-exponential"),
    case(_kl(lambda L, D, a, b, c, d: D.MultivariateNormal(a, scale_tril=_tril(L, b, c)),
             lambda L, D, a, b, c, d: D.MultivariateNormal(d, covariance_matrix=b @ b.mT + L.eye(3, dtype=b.dtype))),
         (3,), (2, 3, 3), (3,), (2, 3), id="mvn-mvn"),
    case(_kl(lambda L, D, a, b, c, d: D.Independent(D.Normal(a, b.exp()), 1),
             lambda L, D, a, b, c, d: D.Independent(D.Normal(c, d.exp()), 1)),
         (2, 3), (2, 3), (2, 3), (2, 3), id="independent-independent"),
    case(_kl(lambda L, D, a, b, c, d: D.Normal(a, b.exp()), lambda L, D, a, b, c, d: D.Laplace(c, d.exp())),
         (3,), (3,), (3,), (3,), id="normal-laplace"),
    case(_kl(lambda L, D, a, b, c, d: D.Uniform(a, a + b.exp()), lambda L, D, a, b, c, d: D.Normal(c, d.exp())),
         (3,), (3,), (3,), (3,), id="uniform-normal"),
    case(_kl(lambda L, D, a, b: D.Uniform(a.abs(), a.abs() + b.exp()), lambda L, D, a, b: D.Exponential(b.exp())),
         (3,), (3,), id="uniform-exponential"),
    case(_kl(lambda L, D, a, b, c: D.Exponential(a.exp()), lambda L, D, a, b, c: D.Normal(b, c.exp())),
         (3,), (3,), (3,), id="exponential-normal"),
]


@pytest.mark.parametrize("fn,inputs,kw", KL_CASES)
def test_kl_divergence_matches_torch(fn, inputs, kw):
    check(fn, *inputs, gradgrad=False, **kw)


def test_kl_infinite_where_torch_is():
    D, TD = ember.distributions, torch.distributions
    e = D.kl_divergence(D.Uniform(0.0, 2.0), D.Uniform(0.5, 1.0))
    t = TD.kl_divergence(TD.Uniform(0.0, 2.0), TD.Uniform(0.5, 1.0))
    assert float(e) == float(t) == float("inf")
    p = ember.tensor([0.0, 1.0, 0.5])
    e = D.kl_divergence(D.Bernoulli(p), D.Bernoulli(ember.tensor([0.5, 0.0, 1.0])))
    t = TD.kl_divergence(TD.Bernoulli(torch.tensor([0.0, 1.0, 0.5])), TD.Bernoulli(torch.tensor([0.5, 0.0, 1.0])))
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and q "
                                                  "type Categorical"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Categorical(logits=ember.zeros(3)))


def _dists(L):
    D = L.distributions
    return {
        "normal": D.Normal(L.zeros(2, 3), L.ones(3)),
        "normal-scalar": D.Normal(0.0, 1.0),
        "laplace": D.Laplace(L.zeros(3), 1.0),
        "exponential": D.Exponential(L.ones(2)),
        "uniform": D.Uniform(L.zeros(3), 2.0),
        "bernoulli": D.Bernoulli(L.full((2, 3), 0.3)),
        "categorical": D.Categorical(logits=L.zeros(2, 4)),
        "one-hot": D.OneHotCategorical(probs=L.ones(3, 4)),
        "mvn": D.MultivariateNormal(L.zeros(2, 3), L.eye(3)),
        "independent": D.Independent(D.Normal(L.zeros(4, 2, 3), 1.0), 2),
    }


@pytest.mark.parametrize("name", list(_dists(torch)))
@pytest.mark.parametrize("sample_shape", [(), (5,), (2, 1)])
def test_shapes_as_torch(name, sample_shape):
    e, t = _dists(ember)[name], _dists(torch)[name]
    assert tuple(e.batch_shape) == tuple(t.batch_shape) and tuple(e.event_shape) == tuple(t.event_shape)
    assert isinstance(e.batch_shape, ember.Size) and isinstance(e.event_shape, ember.Size)
    es, ts = e.sample(sample_shape), t.sample(sample_shape)
    assert tuple(es.shape) == tuple(ts.shape) and str(es.dtype).split(".")[1] == str(ts.dtype).split(".")[1]
    assert not es.requires_grad
    assert tuple(e.log_prob(es).shape) == tuple(t.log_prob(ts).shape)
    assert e.has_rsample == t.has_rsample
    if t.has_rsample:
        assert tuple(e.rsample(sample_shape).shape) == tuple(t.rsample(sample_shape).shape)
    else:
        with pytest.raises(NotImplementedError, match="reparameterized"):
            e.rsample()
    new_batch = (7,) + tuple(t.batch_shape)
    ee, te = e.expand(new_batch), t.expand(new_batch)
    assert tuple(ee.batch_shape) == tuple(te.batch_shape)
    assert tuple(ee.sample(sample_shape).shape) == tuple(te.sample(sample_shape).shape)
    if t.has_enumerate_support:
        assert tuple(e.enumerate_support().shape) == tuple(t.enumerate_support().shape)
        assert tuple(e.enumerate_support(False).shape) == tuple(t.enumerate_support(False).shape)


def test_sampling_statistics():
    ember.manual_seed(0)
    D = ember.distributions
    n = 40000
    cases = [
        (D.Normal(ember.tensor([1.0, -2.0]), ember.tensor([0.5, 2.0])), [1.0, -2.0], [0.25, 4.0]),
        (D.Laplace(ember.tensor([1.0]), ember.tensor([0.5])), [1.0], [0.5]),
        (D.Exponential(ember.tensor([2.0])), [0.5], [0.25]),
        (D.Uniform(ember.tensor([-1.0]), ember.tensor([3.0])), [1.0], [16 / 12]),
        (D.Bernoulli(ember.tensor([0.2, 0.7])), [0.2, 0.7], [0.16, 0.21]),
        (D.OneHotCategorical(ember.tensor([0.1, 0.6, 0.3])), [0.1, 0.6, 0.3], [0.09, 0.24, 0.21]),
    ]
    for d, mean, var in cases:
        for draw in (d.sample, d.rsample) if d.has_rsample else (d.sample,):
            x = draw((n,)).double()
            np.testing.assert_allclose(x.mean(0).numpy(), mean, atol=4 * np.sqrt(max(var) / n) + 1e-3)
            np.testing.assert_allclose(x.var(0).numpy(), var, rtol=0.06)
        np.testing.assert_allclose(d.mean.numpy(), mean, rtol=1e-6)
        np.testing.assert_allclose(d.variance.numpy(), var, rtol=1e-6)
    c = D.Categorical(probs=ember.tensor([[0.1, 0.6, 0.3], [0.5, 0.0, 0.5]]))
    s = c.sample((n,))
    assert s.dtype == ember.int64 and s.shape == (n, 2)
    freq = np.stack([(s.numpy() == k).mean(0) for k in range(3)], -1)
    np.testing.assert_allclose(freq, [[0.1, 0.6, 0.3], [0.5, 0.0, 0.5]], atol=0.015)
    cov = ember.tensor([[2.0, 0.8], [0.8, 1.0]])
    m = D.MultivariateNormal(ember.tensor([1.0, -1.0]), covariance_matrix=cov)
    x = m.rsample((n,)).numpy()
    np.testing.assert_allclose(x.mean(0), [1.0, -1.0], atol=0.04)
    np.testing.assert_allclose(np.cov(x.T), cov.numpy(), atol=0.06)


def test_rsample_is_reparameterised_and_sample_is_not():
    D = ember.distributions
    loc = ember.tensor([0.5, -1.0], requires_grad=True)
    log_scale = ember.tensor([0.1, 0.3], requires_grad=True)
    d = D.Normal(loc, log_scale.exp())
    z = d.rsample((3,))
    assert z.requires_grad and not d.sample((3,)).requires_grad
    z.sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [3.0, 3.0])
    eps = (z.detach() - loc.detach()) / log_scale.detach().exp()
    np.testing.assert_allclose(log_scale.grad.numpy(), (eps * log_scale.detach().exp()).sum(0).numpy(), rtol=1e-5)
    # every rsample is differentiable in its parameters
    rate = ember.tensor([2.0], requires_grad=True)
    x = D.Exponential(rate).rsample((4,))
    (g,) = ember.autograd.grad(x.sum(), rate)
    np.testing.assert_allclose(g.numpy(), [-(x.detach() / rate.detach()).sum().item()], rtol=1e-5)
    scale_tril = ember.tensor([[1.0, 0.0], [0.5, 2.0]], requires_grad=True)
    y = D.MultivariateNormal(ember.zeros(2), scale_tril=scale_tril).rsample((2,))
    (g,) = ember.autograd.grad(y.sum(), scale_tril)
    assert g.shape == (2, 2) and float(g.abs().sum()) > 0


def test_vae_style_loss_gradients_match_torch():
    rng = np.random.default_rng(3)
    mu, logvar, x = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    grads = []
    for L in (ember, torch):
        m = L.tensor(mu, requires_grad=True)
        lv = L.tensor(logvar, requires_grad=True)
        q = L.distributions.Normal(m, (0.5 * lv).exp())
        p = L.distributions.Normal(L.zeros_like(m), L.ones_like(m))
        loss = L.distributions.kl_divergence(q, p).sum() - q.log_prob(L.tensor(x)).sum()
        loss.backward()
        grads.append((loss.item(), m.grad.numpy(), lv.grad.numpy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def _message(L, fn):
    with pytest.raises(ValueError) as info:
        fn(L)
    return str(info.value).replace("torch.Size", "ember.Size")


@pytest.mark.parametrize("fn", [
    lambda L: L.distributions.Normal(L.tensor([0.0, 1.0]), L.tensor([1.0, -1.0])),
    lambda L: L.distributions.Normal(0.0, 0.0),
    lambda L: L.distributions.Bernoulli(probs=L.tensor([0.5, 1.5])),
    lambda L: L.distributions.Bernoulli(),
    lambda L: L.distributions.Bernoulli(probs=0.5, logits=0.0),
    lambda L: L.distributions.Categorical(probs=L.tensor(0.5)),
    lambda L: L.distributions.Categorical(probs=L.tensor([0.5, -0.25])),
    lambda L: L.distributions.Uniform(1.0, 0.0),
    lambda L: L.distributions.Exponential(L.tensor([-1.0])),
    lambda L: L.distributions.MultivariateNormal(L.zeros(2)),
    lambda L: L.distributions.MultivariateNormal(L.tensor(0.0), L.eye(2)),
    lambda L: L.distributions.MultivariateNormal(L.zeros(2), scale_tril=L.tensor([[1.0, 1.0], [0.0, 1.0]])),
    lambda L: L.distributions.MultivariateNormal(L.zeros(2), L.tensor([[1.0, 2.0], [2.0, 1.0]])),
    lambda L: L.distributions.Independent(L.distributions.Normal(L.zeros(3), 1.0), 2),
    lambda L: L.distributions.Normal(L.zeros(3), 1.0).log_prob(L.zeros(2)),
    lambda L: L.distributions.Normal(0.0, 1.0).log_prob(0.5),
    lambda L: L.distributions.Bernoulli(0.3).log_prob(L.tensor(0.5)),
    lambda L: L.distributions.Categorical(logits=L.zeros(3)).log_prob(L.tensor(3)),
    lambda L: L.distributions.Uniform(0.0, 1.0).log_prob(L.tensor(2.0)),
    lambda L: L.distributions.Exponential(1.0).log_prob(L.tensor(-1.0)),
    lambda L: L.distributions.OneHotCategorical(logits=L.zeros(3)).log_prob(L.tensor([1.0, 1.0, 0.0])),
])
def test_validation_errors_as_torch(fn):
    assert _message(ember, fn) == _message(torch, fn)


def test_validation_can_be_turned_off():
    D = ember.distributions
    assert D.Normal(0.0, -1.0, validate_args=False).scale.item() == -1.0
    assert float(D.Uniform(0.0, 1.0, validate_args=False).log_prob(ember.tensor(2.0))) == float("-inf")
    try:
        D.Distribution.set_default_validate_args(False)
        D.Normal(0.0, -1.0)
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Normal(0.0, -1.0)


def test_register_kl_and_constraints():
    D = ember.distributions

    class MyNormal(D.Normal):
        pass

    q = D.Normal(1.0, 2.0)
    assert float(D.kl_divergence(MyNormal(0.0, 1.0), q)) == pytest.approx(
        float(torch.distributions.kl_divergence(torch.distributions.Normal(0.0, 1.0),
                                                torch.distributions.Normal(1.0, 2.0))))

    @D.register_kl(MyNormal, D.Normal)
    def _mine(p, q):
        return ember.tensor(42.0)

    assert float(D.kl_divergence(MyNormal(0.0, 1.0), q)) == 42.0
    c = D.constraints
    assert repr(c.positive) == repr(torch.distributions.constraints.positive)
    assert repr(c.independent(c.real, 1)) == repr(torch.distributions.constraints.independent(
        torch.distributions.constraints.real, 1))
    assert D.Uniform(0.0, 2.0).support.check(ember.tensor([1.0, 3.0])).tolist() == [True, False]
    assert c.simplex.check(ember.tensor([[0.5, 0.5], [0.5, 0.6]])).tolist() == [True, False]
    assert c.lower_cholesky.check(ember.eye(2)).item()
    assert not c.positive_definite.check(ember.tensor([[1.0, 2.0], [2.0, 1.0]])).item()


def test_import_ember_does_not_load_distributions():
    code = "import sys, ember; assert 'ember.distributions' not in sys.modules; ember.distributions.Normal; " \
           "assert 'ember.distributions' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
