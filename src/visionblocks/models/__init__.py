"""Models over params dicts: ``loss(X)`` gives scores, ``loss(X, y)`` gives (loss, grads)."""

from visionblocks.models.base import Model
from visionblocks.models.cnn import ConvNet, ThreeLayerConvNet
from visionblocks.models.fc_net import FullyConnectedNet, TwoLayerNet

__all__ = ["ConvNet", "FullyConnectedNet", "Model", "ThreeLayerConvNet", "TwoLayerNet"]
