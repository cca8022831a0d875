"""Self-supervised learning in torch: augmentations, contrastive losses, SimCLR, MoCo, SimSiam,
pretext tasks, pretraining on the training core, and the linear-probe / few-label protocols.

The package imports torch; ``visionblocks.ssl.cli`` does not (until a command runs), so the
command line still works without it.
"""
