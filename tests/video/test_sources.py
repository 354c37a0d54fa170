"""Sampling a stream at the analysis rate with both decoders."""

from __future__ import annotations

import pytest

from tests.helpers import PETS_CLIP
from video.errors import SourceError
from video.sources import KeyframeSource, OpenCvSource, open_source

CLIP = PETS_CLIP
pytestmark = pytest.mark.skipif(not CLIP.exists(), reason=f"{CLIP} is not present")


def _times(source: OpenCvSource | KeyframeSource) -> list[float]:
    out = []
    while (frame := source.read()) is not None:
        assert frame.image.shape == (360, 480, 3)
        out.append(frame.t)
    source.close()
    return out


def test_opencv_source_samples_one_frame_per_second_of_media() -> None:
    times = _times(OpenCvSource(str(CLIP), rate=1.0))
    assert len(times) == 80 and times[:3] == [0.0, 1.0, 2.0]


def test_keyframe_source_falls_back_to_all_frames_when_the_gop_is_long() -> None:
    pytest.importorskip("av")
    source = KeyframeSource(str(CLIP), rate=1.0)  # this clip has a keyframe every 25 s
    times = _times(source)
    assert not source.keyframes_only
    assert 78 <= len(times) <= 83 and times[0] < 0.5


def test_keyframe_source_stays_on_keyframes_when_they_suffice() -> None:
    pytest.importorskip("av")
    source = KeyframeSource(str(CLIP), rate=0.04)
    times = _times(source)
    assert source.keyframes_only and len(times) == 4


def test_an_unreachable_stream_is_a_source_error() -> None:
    with pytest.raises(SourceError):
        open_source("/nonexistent/clip.mp4", 1.0, "opencv")
