"""Registry entries of the GAN losses (``layers/gan_losses.py``).

A loss row differentiates one argument (``(loss, dx)``), so a loss of the real and the fake
scores has two rows, one per argument, both naming the public function. The twins are torch
compositions (``softplus``, squares, means); the references are torch's own
``binary_cross_entropy_with_logits`` and ``mse_loss``.
"""

from __future__ import annotations

from visionblocks.layers import gan_losses as GL
from visionblocks.layers.registry import register_layer

_PAIR = lambda r: (2.0 * r.standard_normal((6, 1)), 2.0 * r.standard_normal((5, 1)))  # noqa: E731
_ONE = lambda r: (2.0 * r.standard_normal((6, 1)),)  # noqa: E731


def _real_grad(loss):
    def forward(real, fake):
        value, dreal, _ = loss(real, fake)
        return value, dreal

    return forward


def _fake_grad(loss):
    def forward(real, fake):
        value, _, dfake = loss(real, fake)
        return value, dfake

    return forward


def _bce_ref(t):
    def bce(s, target):
        return t.F.binary_cross_entropy_with_logits(s, t.torch.full_like(s, float(target)))

    return bce


def _gan_d_twin(t):
    return lambda r, f: t.F.softplus(-r).mean() + t.F.softplus(f).mean()


def _gan_d_ref(t):
    bce = _bce_ref(t)
    return lambda r, f: bce(r, 1) + bce(f, 0)


def _ls_d_twin(t):
    return lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean()


def _ls_d_ref(t):
    mse = t.F.mse_loss
    return lambda r, f: 0.5 * mse(r, t.torch.ones_like(r)) + 0.5 * mse(f, t.torch.zeros_like(f))


_TWO_INPUT = (
    ("gan_discriminator_loss", GL.gan_discriminator_loss, ("logits_real", "logits_fake"),
     _gan_d_twin, _gan_d_ref),
    ("lsgan_discriminator_loss", GL.lsgan_discriminator_loss, ("scores_real", "scores_fake"),
     _ls_d_twin, _ls_d_ref),
    ("wgan_critic_loss", GL.wgan_critic_loss, ("scores_real", "scores_fake"),
     lambda t: lambda r, f: f.mean() - r.mean(),
     lambda t: lambda r, f: t.torch.sum(f) / f.numel() - t.torch.sum(r) / r.numel()),
)  # fmt: skip
for _name, _loss, _args, _twin, _ref in _TWO_INPUT:
    for _suffix, _make, _wrt in (("real", _real_grad, _args[0]), ("fake", _fake_grad, _args[1])):
        register_layer(
            f"{_name}_{_suffix}", _make(_loss), None, _PAIR, _args, (_wrt,),
            twin=_twin, reference=_ref, public=(_name,),
        )  # fmt: skip

register_layer(
    "gan_generator_loss", GL.gan_generator_loss, None, _ONE, ("logits_fake",), ("logits_fake",),
    twin=lambda t: lambda f: t.F.softplus(-f).mean(),
    reference=lambda t: lambda f: _bce_ref(t)(f, 1),
)  # fmt: skip
register_layer(
    "lsgan_generator_loss", GL.lsgan_generator_loss, None, _ONE, ("scores_fake",),
    ("scores_fake",), twin=lambda t: lambda f: 0.5 * ((f - 1) ** 2).mean(),
    reference=lambda t: lambda f: 0.5 * t.F.mse_loss(f, t.torch.ones_like(f)),
)  # fmt: skip
register_layer(
    "wgan_generator_loss", GL.wgan_generator_loss, None, _ONE, ("scores_fake",),
    ("scores_fake",), twin=lambda t: lambda f: -f.mean(),
    reference=lambda t: lambda f: -t.torch.sum(f) / f.numel(),
)  # fmt: skip
