"""Forward/backward layer pairs of the NumPy engine, under their classic names.

Each module lists its public pairs in ``__all__``; they are all exported here. Every pair is
registered in ``visionblocks.layers.registry.LAYERS`` (the entries are in ``entries.py`` and
``entries_conv.py``), activations also in ``ACTIVATIONS``. Adding a layer touches its module
and one registry entry.
"""

from visionblocks.layers import (
    activations,
    additive_attention,
    affine,
    attention,
    composite,
    conv,
    conv_composite,
    dropout,
    losses,
    lstm,
    norm,
    pool,
    rnn,
    spatial_norm,
    transformer,
    upsample,
    vae_losses,
)
from visionblocks.layers.activations import *  # noqa: F403
from visionblocks.layers.additive_attention import *  # noqa: F403
from visionblocks.layers.affine import *  # noqa: F403
from visionblocks.layers.attention import *  # noqa: F403
from visionblocks.layers.composite import *  # noqa: F403
from visionblocks.layers.conv import *  # noqa: F403
from visionblocks.layers.conv_composite import *  # noqa: F403
from visionblocks.layers.dropout import *  # noqa: F403
from visionblocks.layers.losses import *  # noqa: F403
from visionblocks.layers.lstm import *  # noqa: F403
from visionblocks.layers.norm import *  # noqa: F403
from visionblocks.layers.pool import *  # noqa: F403
from visionblocks.layers.registry import ACTIVATIONS, LAYERS
from visionblocks.layers.rnn import *  # noqa: F403
from visionblocks.layers.spatial_norm import *  # noqa: F403
from visionblocks.layers.transformer import *  # noqa: F403
from visionblocks.layers.upsample import *  # noqa: F403
from visionblocks.layers.vae_losses import *  # noqa: F403

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    *activations.__all__,
    *additive_attention.__all__,
    *affine.__all__,
    *attention.__all__,
    *composite.__all__,
    *conv.__all__,
    *conv_composite.__all__,
    *dropout.__all__,
    *losses.__all__,
    *lstm.__all__,
    *norm.__all__,
    *pool.__all__,
    *rnn.__all__,
    *spatial_norm.__all__,
    *transformer.__all__,
    *upsample.__all__,
    *vae_losses.__all__,
]

# The registry entries, last: they refer to the pairs above.
from visionblocks.layers import (  # noqa: E402, F401
    entries,
    entries_attention,
    entries_conv,
    entries_rnn,
    entries_vae,
)

# The GAN losses (issue 16): the pairs and their registry entries.
# isort: split
from visionblocks.layers import entries_gan, gan_losses  # noqa: E402, F401
from visionblocks.layers.gan_losses import *  # noqa: E402, F403

__all__ += gan_losses.__all__
