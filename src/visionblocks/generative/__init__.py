"""Generative models: autoencoders, VAEs, GANs, PixelCNN and sample-quality measures."""
