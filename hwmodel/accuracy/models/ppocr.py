"""PP-OCRv4 on rendered text: a labelled recognition task, and the detector's and direction
classifier's fidelity, every MAC on the recipe's arithmetic.

The networks are the ONNX exports inside ``rapidocr-onnxruntime`` (:mod:`workloads.packaged`),
run by :class:`~hwmodel.accuracy.models.onnx_model.OnnxNetwork` — the reference evaluator with
each ``Conv``, ``ConvTranspose`` and ``MatMul`` on :func:`~hwmodel.accuracy.qmatmul.qmatmul`.

The text lines are made here, offline and seeded: words drawn from the English prose of
scikit-learn's dataset descriptions, numbers, dates, times, prices and percentages, with
punctuation; each line rendered by Pillow in one of matplotlib's DejaVu fonts (sans, serif, mono;
regular, bold, oblique) at 26–39 px, dark text on a light ground, blurred (Gaussian, radius
0–1.2 px) and with Gaussian noise (σ 0–10 grey levels). Recognition input is PaddleOCR's own:
height 48, width kept in proportion, scaled to [-1, 1] and zero-padded on the right to the
batch's widest line (at least 320 px), lines batched by aspect ratio as RapidOCR does. Output is
decoded CTC-greedy with the model's own dictionary (ONNX metadata ``character``, blank first,
space last). Scoring follows PaddleOCR's ``RecMetric`` (``ignore_space``): both strings
NFKC-normalized (so a full-width "？" reads as "?") with spaces removed; line accuracy is exact
match, character accuracy 1 − Σ edit distance / Σ reference length.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

import numpy as np

__all__ = ["text_lines", "render_line", "recognition_batches", "ctc_greedy", "normalized", "edit_distance",
           "recognition_scores", "load_ppocr", "charset", "FONTS", "HEIGHT", "MIN_WIDTH"]

HEIGHT, MIN_WIDTH = 48, 320
FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
         "DejaVuSerif-Italic.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif-Bold.ttf")
MAX_CHARS = 24


@functools.cache
def _words() -> tuple[str, ...]:
    """Words of 2–12 letters from the dataset descriptions scikit-learn ships (sorted, unique)."""
    import sklearn

    folder = Path(sklearn.__file__).parent / "datasets" / "descr"
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.rst")))
    return tuple(sorted({w for w in re.findall(r"[A-Za-z]{2,12}", text)}))


def _token(rng: np.random.Generator, words) -> str:
    r = rng.random()
    if r < 0.65:
        w = words[rng.integers(len(words))]
        case = rng.random()
        w = w.upper() if case < 0.15 else w.capitalize() if case < 0.45 else w.lower()
    elif r < 0.75:
        w = str(rng.integers(0, 10000))
    elif r < 0.80:
        w = f"{rng.integers(0, 1000)}.{rng.integers(0, 100):02d}"
    elif r < 0.85:
        w = f"{rng.integers(1990, 2031)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
    elif r < 0.90:
        w = f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}"
    elif r < 0.95:
        w = f"{rng.integers(1, 100)}%"
    else:
        w = f"${rng.integers(1, 1000)}"
    if rng.random() < 0.2:
        w += ",.:;!?"[rng.integers(6)]
    if rng.random() < 0.05:
        w = f"({w})"
    return w


def text_lines(count: int, seed: int, *, exclude=()) -> list[str]:
    """``count`` distinct text lines of 3–24 characters (1–4 tokens), none of them in ``exclude``."""
    rng, words = np.random.default_rng(seed), _words()
    seen, lines = set(exclude), []
    while len(lines) < count:
        line = " ".join(_token(rng, words) for _ in range(rng.integers(1, 5)))
        if 3 <= len(line) <= MAX_CHARS and line not in seen:
            seen.add(line)
            lines.append(line)
    return lines


@functools.cache
def _font(name: str, size: int):
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / name), size)


def render_line(text: str, rng: np.random.Generator) -> np.ndarray:
    """The line as a grey uint8 image cropped to the text with a small margin (see the module
    docstring for fonts, sizes, blur and noise)."""
    from PIL import Image, ImageDraw, ImageFilter

    font = _font(FONTS[rng.integers(len(FONTS))], int(rng.integers(26, 40)))
    left, top, right, bottom = font.getbbox(text)
    pad = int(rng.integers(3, 10))
    ground, ink = int(rng.integers(190, 256)), int(rng.integers(0, 80))
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), ground)
    ImageDraw.Draw(image).text((pad - left, pad - top), text, font=font, fill=ink)
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.2))))
    noisy = np.asarray(image, np.float64) + rng.normal(0, rng.uniform(0, 10), (image.height, image.width))
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _resized(image: np.ndarray, width: int) -> np.ndarray:
    """PaddleOCR's ``resize_norm_img``: height 48, width in proportion (at most ``width``),
    scaled to [-1, 1], zero-padded on the right; three equal channels (the lines are grey)."""
    from PIL import Image

    h, w = image.shape
    resized_w = min(width, int(np.ceil(HEIGHT * w / h)))
    picture = Image.fromarray(image).resize((resized_w, HEIGHT), Image.BILINEAR)
    out = np.zeros((3, HEIGHT, width), np.float32)
    out[:, :, :resized_w] = (np.asarray(picture, np.float32) / 255 - 0.5) / 0.5
    return out


def recognition_batches(images: list[np.ndarray], batch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """(NCHW batches, the line index of each batch row): lines sorted by aspect ratio, each batch
    as wide as its widest line (at least 320 px), as RapidOCR batches them."""
    ratios = np.array([im.shape[1] / im.shape[0] for im in images])
    order = np.argsort(ratios, kind="stable")
    batches = []
    for lo in range(0, len(order), batch_size):
        rows = order[lo:lo + batch_size]
        width = max(MIN_WIDTH, int(np.ceil(HEIGHT * ratios[rows].max())))
        batches.append(np.stack([_resized(images[i], width) for i in rows]))
    return batches, order


def charset(proto) -> list[str]:
    """The CTC classes of a PP-OCR recognition model: blank, its dictionary, space."""
    meta = {p.key: p.value for p in proto.metadata_props}
    if "character" not in meta:
        raise ValueError("the recognition model has no 'character' metadata (its CTC dictionary)")
    return ["", *meta["character"].split("\n"), " "]


def ctc_greedy(probabilities: np.ndarray, classes: list[str]) -> list[str]:
    """Best-path CTC decoding of (n, time, classes) scores: argmax per step, repeats merged,
    blanks (class 0) dropped. A row with any non-finite score decodes to nothing."""
    if probabilities.shape[-1] != len(classes):
        raise ValueError(f"the model scores {probabilities.shape[-1]} classes, its dictionary has {len(classes)}")
    out = []
    for row in probabilities:
        if not np.isfinite(row).all():
            out.append("")
            continue
        best = row.argmax(-1)
        keep = np.r_[True, best[1:] != best[:-1]] & (best != 0)
        out.append("".join(classes[i] for i in best[keep]))
    return out


def normalized(text: str) -> str:
    """NFKC with spaces removed (PaddleOCR's ``RecMetric`` with ``ignore_space``)."""
    return unicodedata.normalize("NFKC", text).replace(" ", "")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions of one character each)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def recognition_scores(predicted: list[str], truth: list[str]) -> dict:
    """Line accuracy and character accuracy of ``predicted`` against ``truth`` (normalized)."""
    p, t = [normalized(s) for s in predicted], [normalized(s) for s in truth]
    errors = sum(edit_distance(a, b) for a, b in zip(p, t))
    return {"line_accuracy": float(np.mean([a == b for a, b in zip(p, t)])),
            "char_accuracy": 1.0 - errors / max(1, sum(len(b) for b in t))}


def load_ppocr(name: str):
    """(:class:`OnnxNetwork`, ONNX proto) of a packaged PP-OCR model (``ppocr_rec``, ``ppocr_det``,
    ``ppocr_cls``)."""
    import onnx

    from workloads.packaged import packaged_file

    from hwmodel.accuracy.models.onnx_model import OnnxNetwork

    proto = onnx.load(str(packaged_file(name)))
    return OnnxNetwork(proto, name), proto
