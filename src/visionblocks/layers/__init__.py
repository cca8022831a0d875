"""Forward/backward layer pairs of the NumPy engine, under their classic names.

Every pair is registered in ``visionblocks.layers.registry.LAYERS`` (the entries are in
``entries.py`` and ``entries_conv.py``); activations also in ``ACTIVATIONS``.
"""

from visionblocks.layers.activations import (
    elu_backward,
    elu_forward,
    gelu_backward,
    gelu_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    maxout_backward,
    maxout_forward,
    prelu_backward,
    prelu_forward,
    relu_backward,
    relu_forward,
    selu_backward,
    selu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from visionblocks.layers.affine import affine_backward, affine_forward
from visionblocks.layers.composite import (
    affine_norm_act_backward,
    affine_norm_act_forward,
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from visionblocks.layers.conv import (
    conv_backward_fast,
    conv_backward_naive,
    conv_forward_fast,
    conv_forward_naive,
)
from visionblocks.layers.conv_composite import (
    conv_bn_relu_backward,
    conv_bn_relu_forward,
    conv_norm_act_backward,
    conv_norm_act_forward,
    conv_norm_relu_backward,
    conv_norm_relu_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    residual_block_backward,
    residual_block_forward,
)
from visionblocks.layers.dropout import dropout_backward, dropout_forward
from visionblocks.layers.losses import softmax_loss, svm_loss
from visionblocks.layers.norm import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from visionblocks.layers.pool import (
    avg_pool_backward,
    avg_pool_forward,
    global_avg_pool_backward,
    global_avg_pool_forward,
    max_pool_backward_fast,
    max_pool_backward_naive,
    max_pool_forward_fast,
    max_pool_forward_naive,
    max_pool_indices,
)
from visionblocks.layers.registry import ACTIVATIONS, LAYERS
from visionblocks.layers.spatial_norm import (
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)
from visionblocks.layers.upsample import (
    conv_transpose_backward,
    conv_transpose_forward,
    max_unpool_backward,
    max_unpool_forward,
)

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "affine_backward",
    "affine_forward",
    "affine_norm_act_backward",
    "affine_norm_act_forward",
    "affine_norm_relu_backward",
    "affine_norm_relu_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "avg_pool_backward",
    "avg_pool_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "batchnorm_forward",
    "conv_backward_fast",
    "conv_backward_naive",
    "conv_bn_relu_backward",
    "conv_bn_relu_forward",
    "conv_forward_fast",
    "conv_forward_naive",
    "conv_norm_act_backward",
    "conv_norm_act_forward",
    "conv_norm_relu_backward",
    "conv_norm_relu_forward",
    "conv_relu_backward",
    "conv_relu_forward",
    "conv_relu_pool_backward",
    "conv_relu_pool_forward",
    "conv_transpose_backward",
    "conv_transpose_forward",
    "dropout_backward",
    "dropout_forward",
    "elu_backward",
    "elu_forward",
    "gelu_backward",
    "gelu_forward",
    "global_avg_pool_backward",
    "global_avg_pool_forward",
    "layernorm_backward",
    "layernorm_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "max_pool_backward_fast",
    "max_pool_backward_naive",
    "max_pool_forward_fast",
    "max_pool_forward_naive",
    "max_pool_indices",
    "max_unpool_backward",
    "max_unpool_forward",
    "maxout_backward",
    "maxout_forward",
    "prelu_backward",
    "prelu_forward",
    "relu_backward",
    "relu_forward",
    "residual_block_backward",
    "residual_block_forward",
    "selu_backward",
    "selu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_loss",
    "spatial_batchnorm_backward",
    "spatial_batchnorm_forward",
    "spatial_groupnorm_backward",
    "spatial_groupnorm_forward",
    "svm_loss",
    "tanh_backward",
    "tanh_forward",
]

# The registry entries, last: they refer to the pairs above.
from visionblocks.layers import entries, entries_conv  # noqa: E402, F401
