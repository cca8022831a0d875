"""Registry entries of the VAE loss pairs (``layers.vae_losses``), with their torch twins
(``torchkit.functional_vae``) and independent torch references (``torch.distributions`` and
``binary_cross_entropy_with_logits``)."""

from __future__ import annotations

from visionblocks.layers import vae_losses as VL
from visionblocks.layers.registry import register_layer


def _mu_logvar(r, n=4, d=3):
    return r.standard_normal((n, d)), 0.7 * r.standard_normal((n, d))


def _kl_ref(t):
    def ref(mu, logvar):
        q = t.torch.distributions.Normal(mu, logvar.exp().sqrt())
        p = t.torch.distributions.Normal(t.torch.zeros_like(mu), t.torch.ones_like(mu))
        return t.torch.distributions.kl_divergence(q, p).sum(1)

    return ref


def _nll_args(r):
    return 3.0 * r.standard_normal((4, 5)), r.uniform(0, 1, (4, 5))


def _nll_ref(t):
    def ref(logits, x):
        return t.F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)

    return ref


register_layer(
    "gaussian_kl", VL.gaussian_kl_forward, VL.gaussian_kl_backward, _mu_logvar,
    ("mu", "logvar"), ("mu", "logvar"),
    twin=lambda t: t.TF.gaussian_kl, reference=_kl_ref,
)  # fmt: skip
register_layer(
    "bernoulli_nll", VL.bernoulli_nll_forward, VL.bernoulli_nll_backward, _nll_args,
    ("logits", "x"), ("logits",),
    twin=lambda t: t.TF.bernoulli_nll, reference=_nll_ref,
)  # fmt: skip
register_layer(
    "reparameterize", VL.reparameterize_forward, VL.reparameterize_backward,
    lambda r: (*_mu_logvar(r), r.standard_normal((4, 3))), ("mu", "logvar", "eps"),
    ("mu", "logvar"),
    twin=lambda t: t.TF.reparameterize,
    reference=lambda t: lambda mu, logvar, eps: mu + logvar.exp().sqrt() * eps,
)  # fmt: skip
