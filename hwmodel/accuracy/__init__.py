"""Accuracy of number formats with the MAC's own arithmetic (see :mod:`hwmodel.accuracy.studies`)."""

MODELS = ("minilm", "efficientnet_lite0", "ppocr", "digits")
"""The accuracy models by name, as ``hwmodel accuracy --model`` and sweeps' ``accuracy`` take them."""

BLOCK_FORMAT_MODELS = ("minilm", "digits")
"""The models whose matmuls can run block formats (MX, NVFP4) on the block-scaled unit: their
activations are blocked along each product's K. The convolutional models refuse them
(:func:`hwmodel.accuracy.qmatmul.refuse_block_formats`)."""
