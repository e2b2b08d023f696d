"""Accuracy of number formats with the MAC's own arithmetic (see :mod:`hwmodel.accuracy.studies`)."""

MODELS = ("minilm", "efficientnet_lite0", "ppocr", "digits")
"""The accuracy models by name, as ``hwmodel accuracy --model`` and sweeps' ``accuracy`` take them."""
