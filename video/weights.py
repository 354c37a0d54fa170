"""The model files shipped in ``video/models/`` and the user's replacement for them.

Owns where weights come from: the shipped files with the sha256 of ``provenance.json``
(licence, source, conversion and training data are recorded there too), or a user's
ONNX detector (``SHARPEYES_VIDEO_MODEL``, optionally ``SHARPEYES_VIDEO_MODEL_SHA256``),
read with the shipped detector's input and output layout. Nothing is ever downloaded.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from video.density import DensitySpec
from video.yolox import DetectorSpec

MODELS = Path(__file__).resolve().parent / "models"
DETECTOR_FILE = "yolox_nano_coco.onnx"
DENSITY_FILE = "csrnet_shanghaitech_fp16.onnx"


@cache
def provenance() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MODELS / "provenance.json").read_text())
    return data


def detector_spec(model: str | None = None, sha256: str | None = None) -> DetectorSpec:
    """The shipped YOLOX-nano (BGR, 0-255), or ``model`` read the same way."""
    if model:
        return DetectorSpec(Path(model).expanduser(), sha256)
    return DetectorSpec(MODELS / DETECTOR_FILE, provenance()[DETECTOR_FILE]["sha256"])


def density_spec() -> DensitySpec:
    return DensitySpec(MODELS / DENSITY_FILE, provenance()[DENSITY_FILE]["sha256"])
