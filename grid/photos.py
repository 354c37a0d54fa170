"""Photos a worker attaches to a task: checked, downscaled and re-encoded before storing.

Re-encoding drops every metadata block (EXIF, GPS, camera serials); downscaling to at
most ``MAX_SIDE`` pixels keeps evidence useful while storing less of bystanders
(privacy by design). The SHA-256 of both the upload and the stored bytes is kept, so
a supervisor can match a stored photo to the file the worker sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

MAX_BYTES = 8 * 1024 * 1024
MAX_SIDE = 1600
ACCEPTED_TYPES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}


class PhotoRejected(ValueError):
    """The upload is not an acceptable photo; the message says why."""


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    data: bytes
    width: int
    height: int
    sha256: str
    original_sha256: str
    content_type: str = "image/jpeg"


def prepare_photo(upload: bytes, content_type: str | None) -> StoredPhoto:
    """Validate an upload and return what to store (JPEG, at most MAX_SIDE pixels)."""
    if len(upload) > MAX_BYTES:
        raise PhotoRejected(f"photo of {len(upload)} bytes exceeds {MAX_BYTES // 2**20} MiB")
    magic = ACCEPTED_TYPES.get(content_type or "")
    if magic is None:
        raise PhotoRejected(f"type {content_type!r} not accepted; send {sorted(ACCEPTED_TYPES)}")
    if not upload.startswith(magic):
        raise PhotoRejected(f"the file is not a {content_type} image")
    image = cv2.imdecode(np.frombuffer(upload, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PhotoRejected("the image could not be decoded")
    image = _downscale(image)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise PhotoRejected("the image could not be re-encoded")
    data = encoded.tobytes()
    height, width = image.shape[:2]
    return StoredPhoto(data, width, height, hashlib.sha256(data).hexdigest(),
                       hashlib.sha256(upload).hexdigest())


def _downscale(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale >= 1:
        return image
    size = (round(width * scale), round(height * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
