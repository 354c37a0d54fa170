"""A rendered camera that the real video analyser watches, for the demo.

The fleet's simulated cameras publish counts straight to MQTT; this one publishes
pictures instead. A plaza clip is rendered once (a crowd that builds up to 2 persons/m²
and thins out again over two minutes), registered as a camera with a four-point
calibration and two zones, and ``serve video`` counts it like any RTSP camera: density
reports over MQTT, an occupancy heatmap in the dashboard. The clip loops.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from simulators.render import default_scene, default_zones, standard_geometries, write_video
from simulators.render.camera import CameraModel

if TYPE_CHECKING:
    from video.calibration import CalibrationSpec

CAMERA_ID = "CAM-VIDEO-DEMO"
CLIP_SECONDS = 120.0
CLIP_FPS = 2.5     # the analyser samples 1 Hz; more frames only cost rendering time
PEAK_DENSITY = 2.0   # "busy"; the learned auto reads these renders low (≈ 20% at the peak)
SEED = 5


def demo_geometry() -> CameraModel:
    """The 640 × 480 camera 8 m up, tilted 35°: the cheapest standard view to render and analyse."""
    return next(c for c in standard_geometries() if c.width == 640)


def density_at(t: float) -> float:
    """Persons/m² at ``t`` seconds into the clip: 0.3 at either end, the peak half-way."""
    return 0.3 + (PEAK_DENSITY - 0.3) * math.sin(math.pi * t / CLIP_SECONDS) ** 2


def rendered_clip(directory: Path) -> Path:
    """The demo clip in ``directory`` (a cache), rendered (≈ 20 s of CPU) only the first time."""
    # Everything that shapes the clip is in its name, so a changed constant renders anew.
    name = f"demo-plaza-{SEED}-{CLIP_SECONDS:g}s-{CLIP_FPS:g}fps-peak{PEAK_DENSITY:g}.avi"
    path = directory / name
    if path.exists():
        return path
    partial = path.with_suffix(".partial.avi")
    spec = default_scene(demo_geometry(), density_at, seed=SEED, fps=CLIP_FPS)
    write_video(spec, CLIP_SECONDS, partial, codec="MJPG")
    partial.replace(path)   # a demo stopped mid-render leaves no half clip behind
    return path


def calibration_for(camera: Any) -> CalibrationSpec:
    """Four ground ↔ image point pairs, as an installer would measure them."""
    from video.calibration import CalibrationSpec

    ground = np.array([[-4, 8], [4, 8], [4, 20], [-4, 20]], float) + [0, camera.height_m * 0.5]
    image = camera.ground_to_image(ground)
    return CalibrationSpec.model_validate({"points": [
        {"image": [float(v) for v in i], "ground": [float(v) for v in g]}
        for i, g in zip(image, ground, strict=True)]})


def demo_calibration() -> CalibrationSpec:
    """Four ground ↔ image point pairs of the demo camera, as an installer would measure."""
    camera = demo_geometry()
    return calibration_for(camera).model_copy(
        update={"image_size": (camera.width, camera.height)})


def register_camera(conn: psycopg.Connection[Any], clip: Path, grid_code: str,
                    place_id: str | None) -> list[str]:
    """Register (or update) the rendered camera and its zones; their zone ids."""
    camera = demo_geometry()
    calibration = demo_calibration().model_dump(mode="json", exclude_none=True)
    with conn.transaction():
        conn.execute(
            "INSERT INTO devices (id, kind, name, place_id, grid_code, stream_url, calibration)"
            " VALUES (%s, 'camera', 'Rendered plaza camera (video analysis)', %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET stream_url = EXCLUDED.stream_url,"
            " calibration = EXCLUDED.calibration",
            (CAMERA_ID, place_id, grid_code, str(clip), json.dumps(calibration)))
        zone_ids = []
        for zone in default_zones(camera):
            zone_id = f"{CAMERA_ID}-{zone.zone_id}"
            polygon = [[round(float(x), 1), round(float(y), 1)]
                       for x, y in zone.image_polygon(camera)]
            conn.execute(
                "INSERT INTO zones (id, device_id, place_id, grid_code, name, area_m2, polygon)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
                " area_m2 = EXCLUDED.area_m2, polygon = EXCLUDED.polygon",
                (zone_id, CAMERA_ID, place_id, grid_code,
                 f"Rendered plaza, {zone.zone_id.removeprefix('zone-')} part",
                 round(zone.area_m2, 2), json.dumps(polygon)))
            zone_ids.append(zone_id)
    return zone_ids
