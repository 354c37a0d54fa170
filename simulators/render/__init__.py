"""Synthetic crowd video with exact ground truth, for exercising and measuring video analysis.

A pinhole camera over a flat plaza (``camera``), pedestrians moving by waypoints and
social-force collision avoidance (``crowd``), drawn in perspective with furniture,
shadows, lighting drift, sensor noise and JPEG compression (``draw``, ``props``,
``background``, ``renderer``), counted per ground zone every frame (``scene``).

Modules: ``camera`` (projection, homography), ``geometry`` (ground polygons), ``crowd``
(motion), ``draw`` (people), ``props`` (furniture), ``background`` (static scene),
``scene`` (specs and truth), ``renderer`` (frames, video files), ``sheet`` (pictures).

Errors: ``RenderError`` (renderer) — the only error this package raises on purpose,
besides ``ValueError`` for invalid specs.
"""

from simulators.render.camera import CameraModel, standard_geometries
from simulators.render.renderer import RenderError, SceneRenderer, render_frames, write_video
from simulators.render.scene import (
    FrameTruth,
    SceneSpec,
    ZoneSpec,
    count_in_zones,
    default_scene,
    default_walkable,
    default_zones,
)
from simulators.render.sheet import annotate, contact_sheet

__all__ = [
    "CameraModel",
    "FrameTruth",
    "RenderError",
    "SceneRenderer",
    "SceneSpec",
    "ZoneSpec",
    "annotate",
    "contact_sheet",
    "count_in_zones",
    "default_scene",
    "default_walkable",
    "default_zones",
    "render_frames",
    "standard_geometries",
    "write_video",
]
