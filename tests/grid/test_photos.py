"""Task photos: dimensions come from the header before anything is decoded, so a
decompression bomb is refused at once, and nothing a client sends makes an error other
than a :class:`PhotoRejected` with a 4xx status."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grid.photos import MAX_PIXELS, MAX_SIDE, PhotoRejected, image_size, prepare_photo

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bomb(width: int, height: int, rows: int | None = None) -> bytes:
    """A valid 8-bit greyscale PNG of zeros, written by hand: tiny on the wire, huge when
    decoded. ``rows`` limits how many rows of data follow the header (a truncated file,
    for sizes too large to compress in a test)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    packer = zlib.compressobj(9)
    row = bytes(width + 1)                       # filter byte 0, then the pixels
    body = b"".join(packer.compress(row) for _ in range(height if rows is None else rows))
    body += packer.flush()
    return (PNG_MAGIC + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body)
            + _chunk(b"IEND", b""))


def jpeg_header(width: int, height: int) -> bytes:
    """SOI, an APP0 segment, then a baseline frame header of the given size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + bytes(64)


def test_the_header_gives_the_size_without_decoding() -> None:
    assert image_size(png_bomb(30000, 30000, rows=1), "image/png") == (30000, 30000)
    assert image_size(jpeg_header(60000, 60000), "image/jpeg") == (60000, 60000)
    real = bytes(cv2.imencode(".jpg", np.zeros((30, 70, 3), np.uint8))[1])
    assert image_size(real, "image/jpeg") == (70, 30)


@pytest.mark.parametrize("upload, kind", [
    (png_bomb(30000, 30000, rows=1), "image/png"),     # the reported 875 KB / 5.8 GB one
    (png_bomb(60000, 60000, rows=1), "image/png"),     # the one that answered 500
    (png_bomb(2**31 - 1, 2**31 - 1, rows=0), "image/png"),
    (jpeg_header(60000, 60000), "image/jpeg"),
    (jpeg_header(6325, 6325), "image/jpeg"),           # just over 40 megapixels
])
def test_images_over_the_pixel_budget_are_refused_with_413(upload: bytes, kind: str) -> None:
    with pytest.raises(PhotoRejected, match="megapixels a photo may have") as refused:
        prepare_photo(upload, kind)
    assert refused.value.status == 413


def test_a_complete_bomb_is_refused_before_it_is_decoded() -> None:
    bomb = png_bomb(7000, 7000)             # 49 MP of zeros: ~50 KB on the wire
    assert len(bomb) < 100_000
    with pytest.raises(PhotoRejected) as refused:
        prepare_photo(bomb, "image/png")
    assert refused.value.status == 413
    small = prepare_photo(bomb, "image/png", max_pixels=50_000_000)   # a budget that allows it
    assert max(small.width, small.height) == MAX_SIDE


def test_images_within_the_budget_are_downscaled_and_thin_ones_survive() -> None:
    thin = prepare_photo(png_bomb(20000, 1), "image/png")
    assert (thin.width, thin.height) == (MAX_SIDE, 1)
    big = bytes(cv2.imencode(".jpg", np.full((4000, 6000, 3), 90, np.uint8))[1])
    stored = prepare_photo(big, "image/jpeg")       # decoded at half scale, then resized
    assert (stored.width, stored.height) == (MAX_SIDE, round(4000 * MAX_SIDE / 6000))
    assert MAX_PIXELS == 40_000_000


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["image/png", "image/jpeg"]),
       width=st.integers(0, 2**32 - 1), height=st.integers(0, 2**32 - 1),
       tail=st.binary(max_size=200))
def test_any_header_and_garbage_is_a_4xx_rejection_or_a_photo(kind: str, width: int,
                                                               height: int, tail: bytes) -> None:
    if kind == "image/png":
        upload = PNG_MAGIC + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0,
                                                         0)) + tail
    else:
        upload = jpeg_header(width % 65536, height % 65536)[:30] + tail
    try:
        photo = prepare_photo(upload, kind)
    except PhotoRejected as exc:
        assert exc.status in (413, 415)
    else:
        assert 1 <= max(photo.width, photo.height) <= MAX_SIDE
