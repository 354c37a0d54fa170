"""Photos a worker attaches to a task: checked, downscaled and re-encoded before storing.

Re-encoding drops every metadata block (EXIF, GPS, camera serials); downscaling to at
most ``MAX_SIDE`` pixels keeps evidence useful while storing less of bystanders
(privacy by design). The SHA-256 of both the upload and the stored bytes is kept, so
a supervisor can match a stored photo to the file the worker sent.

Memory per upload is bounded: the width and height are read from the file's own header
(PNG ``IHDR``, JPEG ``SOFn``) before anything is decoded, and an image over the pixel
budget is refused (413) — a PNG of 30000×30000 zeros is under 1 MB on the wire and
would decode to 2.7 GB. JPEGs are decoded at a reduced scale when that still leaves
``MAX_SIDE`` pixels.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import cv2
import numpy as np

from kernel.errors import InvalidError

MAX_BYTES = 8 * 1024 * 1024
MAX_SIDE = 1600
MAX_PIXELS = 40_000_000
ACCEPTED_TYPES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}

# Frame headers: SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length: TEM, RSTn, SOI, EOI.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
            (2, cv2.IMREAD_REDUCED_COLOR_2))


class PhotoRejected(InvalidError):
    """The upload is not an acceptable photo; the message says why, ``status`` how the
    API answers (413 too large, 415 not a JPEG or PNG it can read)."""

    def __init__(self, message: str, status: int = 415) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    data: bytes
    width: int
    height: int
    sha256: str
    original_sha256: str
    content_type: str = "image/jpeg"


def image_size(upload: bytes, content_type: str) -> tuple[int, int]:
    """(width, height) from the header of a PNG or JPEG, without decoding it."""
    if content_type == "image/png":
        return _png_size(upload)
    return _jpeg_size(upload)


def _png_size(data: bytes) -> tuple[int, int]:
    # Signature (8), then the first chunk must be IHDR: length 13, type, width, height.
    if len(data) < 24 or data[12:16] != b"IHDR" or data[8:12] != b"\x00\x00\x00\x0d":
        raise PhotoRejected("the PNG has no image header (IHDR)")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2                                  # after SOI
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise PhotoRejected("the JPEG's markers are malformed")
        marker = data[i + 1]
        if marker == 0xFF:                 # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if length < 2:
            raise PhotoRejected("the JPEG's markers are malformed")
        if marker in _SOF:
            if i + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        if marker == 0xDA:                 # start of scan before any frame header
            break
        i += 2 + length
    raise PhotoRejected("the JPEG has no frame header (SOF) before its image data")


def prepare_photo(upload: bytes, content_type: str | None,
                  max_pixels: int = MAX_PIXELS) -> StoredPhoto:
    """Validate an upload and return what to store (JPEG, at most MAX_SIDE pixels)."""
    if len(upload) > MAX_BYTES:
        raise PhotoRejected(f"photo of {len(upload)} bytes exceeds {MAX_BYTES // 2**20} MiB",
                            413)
    magic = ACCEPTED_TYPES.get(content_type or "")
    if magic is None or content_type is None:
        raise PhotoRejected(f"type {content_type!r} not accepted; send {sorted(ACCEPTED_TYPES)}")
    if not upload.startswith(magic):
        raise PhotoRejected(f"the file is not a {content_type} image")
    width, height = image_size(upload, content_type)
    if width == 0 or height == 0:
        raise PhotoRejected(f"the image header says {width}×{height} pixels")
    if width * height > max_pixels:
        raise PhotoRejected(
            f"{width}×{height} pixels ({width * height / 1e6:.0f} megapixels) exceed the "
            f"{max_pixels / 1e6:g} megapixels a photo may have; send a smaller image", 413)
    image = _decode(upload, content_type, max(width, height))
    image = _downscale(image)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise PhotoRejected("the image could not be re-encoded")
    data = encoded.tobytes()
    height, width = image.shape[:2]
    return StoredPhoto(data, width, height, hashlib.sha256(data).hexdigest(),
                       hashlib.sha256(upload).hexdigest())


def _decode(upload: bytes, content_type: str, side: int) -> np.ndarray:
    flags = cv2.IMREAD_COLOR
    if content_type == "image/jpeg":       # libjpeg scales while decoding: less memory
        flags = next((f for n, f in _REDUCED if side // n >= MAX_SIDE), flags)
    try:
        image = cv2.imdecode(np.frombuffer(upload, np.uint8), flags)
    except cv2.error as exc:
        raise PhotoRejected("the image could not be decoded") from exc
    if image is None:
        raise PhotoRejected("the image could not be decoded")
    return image


def _downscale(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
