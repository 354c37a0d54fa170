"""Rebuild the shipped model files in ``video/models/`` from their published sources.

Run by a maintainer when a model changes (needs the ``onnx`` package of the test extra):

    python tools/convert_models.py SOURCE_DIR

``SOURCE_DIR`` holds the files as published (``yolox_nano_coco.onnx``,
``csrnet_shanghaitech.onnx``). What it does, and nothing else:

- YOLOX-nano: the input's H and W and the output's box count become symbolic (the
  published export fixes them at 416 × 416), and the stale ``value_info`` shapes are
  dropped, so that ONNX Runtime runs it at any multiple of 32. Weights are untouched.
- CSRNet: every float32 weight is stored as float16 with a ``Cast`` to float32 in front
  (ONNX Runtime folds the casts when the session starts, so it computes in float32):
  half the size (65 → 33 MB); counts on 10 ShanghaiTech B images changed by < 0.1 %.

It prints the sha256 of each result for ``video/models/provenance.json``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent.parent / "video" / "models"


def symbolic_yolox(src: Path, dst: Path) -> None:
    model = onnx.load(str(src))
    del model.graph.value_info[:]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "N"
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def float16_weights(src: Path, dst: Path) -> None:
    model = onnx.load(str(src))
    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype != np.float32 or array.size <= 16:
            kept.append(init)
            continue
        half = numpy_helper.from_array(array.astype(np.float16), init.name + "_fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "_cast"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def main(source: Path) -> None:
    jobs = [(symbolic_yolox, "yolox_nano_coco.onnx", "yolox_nano_coco.onnx"),
            (float16_weights, "csrnet_shanghaitech.onnx", "csrnet_shanghaitech_fp16.onnx")]
    for fn, name, out in jobs:
        fn(source / name, OUT / out)
        digest = hashlib.sha256((OUT / out).read_bytes()).hexdigest()
        sys.stdout.write(f"{out} {digest}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
