"""Still images as a source: one file, or every image in a folder (snapshot cameras,
labelled data sets). Each image is counted on its own, with no state between them.

Owns finding the images and counting one. Unlike a stream, a still has no previous frame:
no health verdict, no flow, and the budgeted passes (the density network) always run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from video.calibration import CalibrationSpec, from_spec
from video.counting import Counter
from video.errors import SourceError
from video.model import CountResult, Zone
from video.zones import prepare_zones

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def is_still(source: str) -> bool:
    path = Path(source)
    return path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


def still_paths(source: str) -> list[Path]:
    """The image itself, or a folder's images sorted by name (numbers in natural order)."""
    path = Path(source)
    if path.is_file():
        return [path]
    found = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found, key=lambda p: (len(p.stem), p.stem))


def read_stills(source: str) -> Iterator[tuple[Path, np.ndarray | None]]:
    """(path, image) per still; ``None`` for a file that is not a readable image."""
    paths = still_paths(source)
    if not paths:
        raise SourceError(f"no images in {source}")
    for path in paths:
        yield path, cv2.imread(str(path), cv2.IMREAD_COLOR)


def count_still(counter: Counter, image: np.ndarray, zones: Sequence[Zone],
                calibration: CalibrationSpec | None) -> CountResult:
    """``counter`` on one image; zones and calibration refer to the image's own pixels."""
    h, w = image.shape[:2]
    ground = from_spec(calibration, w, h) if calibration is not None else None
    geometry = prepare_zones(zones or [Zone("frame")], w, h, ground)
    return counter.count(image, geometry, ground, None)
