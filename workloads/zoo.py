"""Named networks and the bundled traces, so the main job needs no download.

``load_trace(NAME | FILE.onnx | FILE.csv)``: a name gives the bundled trace (or, with a batch or
sequence length other than the bundled one, builds it afresh); an ONNX file is imported; a CSV is
read as an hwmodel trace or a SCALE-Sim topology. ``hwmodel data traces`` regenerates the
bundled CSVs in ``workloads/data`` (a test fails when they are stale).
"""

from __future__ import annotations

import dataclasses
from importlib import metadata, resources
from pathlib import Path

from workloads.builders import (LLAMAS, TRANSFORMERS, efficientnet_lite0_trace, llama_trace, mobilenet_v2_trace,
                                transformer_trace)
from workloads.onnx_import import trace_from_onnx
from workloads.packaged import PACKAGED, packaged_file
from workloads.scalesim import is_scalesim_csv, read_scalesim
from workloads.trace import Trace, TraceError

__all__ = ["NETWORKS", "BUNDLED", "build_network", "load_trace", "onnx_light_model", "regenerate"]

ONNX_LIGHT = {"resnet50": "light_resnet50", "vgg19": "light_vgg19", "densenet121": "light_densenet121",
              "squeezenet": "light_squeezenet", "inception_v1": "light_inception_v1",
              "inception_v2": "light_inception_v2", "shufflenet": "light_shufflenet",
              "alexnet": "light_bvlc_alexnet", "zfnet512": "light_zfnet512"}
PACKAGED_ONNX = tuple(name for name, model in PACKAGED.items() if model.file.endswith(".onnx"))
NETWORKS = sorted(list(ONNX_LIGHT) + ["mobilenet_v2", "efficientnet_lite0"] + list(PACKAGED_ONNX) + list(TRANSFORMERS) + ["gpt2_small_decode"]
                  + [f"{name}_{mode}" for name in LLAMAS for mode in ("prefill", "decode")])
BUNDLED = ("resnet50", "mobilenet_v2", "vgg19", "densenet121", "squeezenet", "bert_base", "minilm_l6",
           "gpt2_small", "vit_s16", "efficientnet_lite0", "ppocr_rec", "ppocr_det", "ppocr_cls")


def onnx_light_model(name: str) -> Path:
    """Path of a real-shape model shipped inside the ``onnx`` wheel."""
    root = resources.files("onnx").joinpath("backend", "test", "data", "light")
    return Path(str(root.joinpath(f"{ONNX_LIGHT[name]}.onnx")))


def build_network(name: str, *, batch: int = 1, seq: int | None = None, keep_bn: bool = False) -> Trace:
    if name in ONNX_LIGHT:
        trace = trace_from_onnx(onnx_light_model(name), batch=batch, keep_bn=keep_bn, network=name)
        # a location-independent source, so bundled files do not depend on where onnx is installed
        return dataclasses.replace(trace, source=f"onnx {metadata.version('onnx')} wheel: "
                                                 f"backend/test/data/light/{ONNX_LIGHT[name]}.onnx")
    if name == "mobilenet_v2":
        return mobilenet_v2_trace(batch=batch)
    if name == "efficientnet_lite0":
        return efficientnet_lite0_trace(batch=batch)
    if name in PACKAGED_ONNX:  # real exports at the input shape hwmodel uses (PACKAGED), batch replaced
        model = PACKAGED[name]
        shapes = {k: (batch, *v[1:]) for k, v in model.input_shapes.items()}
        trace = trace_from_onnx(packaged_file(name), input_shapes=shapes, keep_bn=keep_bn, network=name)
        return dataclasses.replace(trace, source=f"{model.distribution} {model.version}: {model.file} at "
                                                 + ", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in shapes.items()))
    if name == "gpt2_small_decode":
        return transformer_trace("gpt2_small", batch=batch, seq=seq, decode=True)
    if name in TRANSFORMERS:
        return transformer_trace(name, batch=batch, seq=seq)
    model, _, mode = name.rpartition("_")
    if model in LLAMAS and mode in ("prefill", "decode"):
        return llama_trace(model, mode=mode, batch=batch, seq=seq)
    raise ValueError(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")


def _bundled_path(name: str):
    return resources.files("workloads").joinpath("data", f"{name}.csv")


def load_trace(source: str, *, batch: int | None = None, seq: int | None = None, keep_bn: bool = False,
               strict: bool = False, input_shapes: dict | None = None) -> Trace:
    """A trace from a network name, an ONNX file or a CSV file (hwmodel or SCALE-Sim);
    ``input_shapes`` ({input name: shape}) gives an ONNX model's dynamic dimensions."""
    path = Path(source)
    if input_shapes and path.suffix.lower() != ".onnx":
        raise TraceError(f"{source}: input shapes (--shape) are for ONNX models, not for a "
                         f"{'CSV trace' if path.suffix.lower() == '.csv' else 'named network'}")
    if path.suffix.lower() == ".onnx":
        return trace_from_onnx(path, batch=batch, keep_bn=keep_bn, strict=strict, input_shapes=input_shapes)
    if path.suffix.lower() == ".csv":
        try:
            text = path.read_text(encoding="utf-8-sig")  # a BOM (Excel's CSV) is not part of the header
        except OSError as error:
            raise TraceError(f"{path}: cannot read ({error.strerror})") from None
        return read_scalesim(path, text) if is_scalesim_csv(text) else Trace.from_csv(text, str(path))
    if source in BUNDLED and batch in (None, 1) and seq is None and not keep_bn:
        return Trace.from_csv(_bundled_path(source).read_text(), f"bundled:{source}")
    return build_network(source, batch=batch or 1, seq=seq, keep_bn=keep_bn)


def regenerate(directory: Path | None = None) -> list[Path]:
    """Rebuild every bundled trace CSV."""
    from rtl.files import atomic_write_text
    directory = directory or Path(__file__).resolve().parent / "data"
    return [atomic_write_text(directory / f"{name}.csv", build_network(name).to_csv()) for name in BUNDLED]
