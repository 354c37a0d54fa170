"""Privacy by design: the only picture that ever leaves the analyser is a blurred thumbnail.

Owns :func:`snapshot`, used when a task needs visual evidence: the frame is downscaled so
that faces span a few pixels and then blurred, and encoded as JPEG in memory. Nothing
here (or anywhere in ``video/``) detects faces, re-identifies people or keeps tracks, and
no frame is written to disk; counts are all that is kept.
"""

from __future__ import annotations

import cv2
import numpy as np


def snapshot(frame: np.ndarray, max_width: int = 320, blur_fraction: float = 0.02,
             quality: int = 70) -> bytes:
    """A downscaled (≤ ``max_width``) and Gaussian-blurred JPEG of ``frame``.

    The blur's sigma is ``blur_fraction`` of the thumbnail width (≥ 2 px), enough to make a
    person's face unrecognisable at any distance while a crowd stays visible.
    """
    h, w = frame.shape[:2]
    scale = min(1.0, max_width / w)
    small = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    sigma = max(2.0, blur_fraction * small.shape[1])
    blurred = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma)
    ok, jpeg = cv2.imencode(".jpg", blurred, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return jpeg.tobytes()
