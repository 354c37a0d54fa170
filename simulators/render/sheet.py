"""Pictures of the renderer for people: zone overlays with true counts, and the README's
contact sheet of frames at several densities.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from simulators.render.camera import CameraModel, standard_geometries
from simulators.render.renderer import SceneRenderer
from simulators.render.scene import FrameTruth, SceneSpec, default_scene

log = logging.getLogger(__name__)

_ZONE_COLORS = ((0, 215, 255), (255, 200, 0), (90, 255, 90), (255, 120, 255))
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def annotate(frame: np.ndarray, spec: SceneSpec, truth: FrameTruth) -> np.ndarray:
    """A copy of ``frame`` with each zone outlined and its true count and density printed."""
    out = frame.copy()
    overlay = frame.copy()
    for k, zone in enumerate(spec.zones):
        color = _ZONE_COLORS[k % len(_ZONE_COLORS)]
        poly = np.round(zone.image_polygon(spec.camera) * 16).astype(np.int32)
        cv2.fillPoly(overlay, [poly], color, cv2.LINE_AA, 4)
    cv2.addWeighted(overlay, 0.12, out, 0.88, 0.0, dst=out)
    scale = spec.camera.width / 1280.0
    for k, zone in enumerate(spec.zones):
        color = _ZONE_COLORS[k % len(_ZONE_COLORS)]
        px = zone.image_polygon(spec.camera)
        poly = np.round(px * 16).astype(np.int32)
        cv2.polylines(out, [poly], True, color, max(2, round(3 * scale)), cv2.LINE_AA, 4)
        count = truth.zone_counts[zone.zone_id]
        text = f"{zone.zone_id}: {count} people, {count / zone.area_m2:.1f}/m2"
        anchor = px[np.argmin(px[:, 1] + 0.01 * px[:, 0])]
        label(out, text, (int(anchor[0]) + 4, int(anchor[1]) - 8), color, 0.8 * scale + 0.2)
    return out


def label(image: np.ndarray, text: str, origin: tuple[int, int], color: tuple[int, int, int],
          size: float) -> None:
    """Text on a dark box, kept inside the image."""
    thickness = max(1, round(size * 2))
    (w, h), base = cv2.getTextSize(text, _FONT, size, thickness)
    x = int(np.clip(origin[0], 2, image.shape[1] - w - 4))
    y = int(np.clip(origin[1], h + 4, image.shape[0] - base - 2))
    cv2.rectangle(image, (x - 3, y - h - 4), (x + w + 3, y + base + 2), (20, 20, 20), -1)
    cv2.putText(image, text, (x, y), _FONT, size, color, thickness, cv2.LINE_AA)


def contact_sheet(
    path: Path,
    densities: Sequence[float] = (0.2, 1, 2.5, 4, 6),
    camera: CameraModel | None = None,
    seed: int = 7,
    tile_width: int = 640,
    columns: int = 3,
) -> Path:
    """Write a PNG grid of frames at several target densities, zones and true counts drawn."""
    cam = camera or standard_geometries()[0]
    tiles = [_tile(default_scene(cam, d, seed=seed, warmup_s=4.0), d, tile_width)
             for d in densities]
    tile_h = tiles[0].shape[0]
    while len(tiles) % columns:
        tiles.append(_legend(cam, tile_width, tile_h, seed))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    sheet = np.vstack([_title(rows[0].shape[1]), *rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"could not write {path}")
    log.info("contact sheet with %d densities written to %s", len(densities), path)
    return path


def _tile(spec: SceneSpec, density: float, width: int) -> np.ndarray:
    renderer = SceneRenderer(spec)
    frame, truth = renderer.next_frame()
    shown = annotate(frame, spec, truth)
    tile = cv2.resize(shown, (width, round(width * frame.shape[0] / frame.shape[1])),
                      interpolation=cv2.INTER_AREA)
    text = f"target {density:g}/m2 - {len(truth.positions)} people on the plaza"
    label(tile, text, (8, 24), (255, 255, 255), 0.55)
    cv2.rectangle(tile, (0, 0), (tile.shape[1] - 1, tile.shape[0] - 1), (30, 30, 30), 2)
    return tile


def _legend(cam: CameraModel, width: int, height: int, seed: int) -> np.ndarray:
    tile = np.full((height, width, 3), 38, np.uint8)
    lines = [
        "Synthetic CCTV, exact ground truth",
        f"camera {cam.width}x{cam.height}, {cam.height_m:g} m high,",
        f"tilted {cam.tilt_deg:g} deg, HFOV {cam.hfov_deg:.0f} deg, seed {seed}",
        "zone counts: people whose feet are inside",
        "density bands (persons/m2): <1 free flow,",
        "1-2.5 stable, 2.5-3.5 capacity, 3.5-5 unstable,",
        ">=5 congested",
    ]
    for k, text in enumerate(lines):
        cv2.putText(tile, text, (18, 40 + 34 * k), _FONT, 0.6, (225, 225, 225), 1, cv2.LINE_AA)
    return tile


def _title(width: int) -> np.ndarray:
    bar = np.full((44, width, 3), 24, np.uint8)
    cv2.putText(bar, "Sharp Eyes - synthetic crowd video at increasing density", (14, 30), _FONT,
                0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return bar
