"""Pinhole camera over a flat ground plane: projection, ground homography, person sizing.

Owns the one geometric convention every other renderer module and the video analyser's
calibration rely on:

- Ground coordinates are metres on the plane z = 0. The camera stands at (0, 0) at
  ``height_m`` above it, looking along +y (away from the camera), tilted ``tilt_deg``
  below horizontal, without roll. +x is to the camera's right; z is up.
- Image pixels are (u, v): u to the right, v down, principal point at the image centre,
  square pixels, no lens distortion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class CameraModel:
    """A tilted pinhole camera at a height above flat ground."""

    width: int
    height: int
    focal_px: float
    height_m: float
    tilt_deg: float

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.focal_px <= 0:
            raise ValueError("image size and focal length must be positive")
        if self.height_m <= 0:
            raise ValueError("camera height must be above the ground")
        if not 0.0 < self.tilt_deg < 90.0:
            raise ValueError("tilt must be between 0 and 90 degrees below horizontal")

    @classmethod
    def from_fov(
        cls, width: int, height: int, hfov_deg: float, height_m: float, tilt_deg: float
    ) -> CameraModel:
        """A camera given its horizontal field of view instead of its focal length."""
        focal = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(width, height, focal, height_m, tilt_deg)

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view in degrees."""
        return math.degrees(2.0 * math.atan((self.width / 2.0) / self.focal_px))

    @property
    def horizon_row(self) -> float:
        """Image row of the horizon (negative when the horizon is above the image)."""
        return self.height / 2.0 - self.focal_px * math.tan(math.radians(self.tilt_deg))

    def _rotation(self) -> np.ndarray:
        """World (x, y, z) to camera (right, down, forward) rotation."""
        s, c = math.sin(math.radians(self.tilt_deg)), math.cos(math.radians(self.tilt_deg))
        return np.array([[1.0, 0.0, 0.0], [0.0, -s, -c], [0.0, c, -s]])

    def _intrinsics(self) -> np.ndarray:
        f, cx, cy = self.focal_px, self.width / 2.0, self.height / 2.0
        return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])

    def camera_coords(self, points_3d: np.ndarray) -> np.ndarray:
        """(N, 3) world points in metres to (N, 3) camera coordinates (z = depth)."""
        rel = np.asarray(points_3d, dtype=float).reshape(-1, 3) - (0.0, 0.0, self.height_m)
        return np.asarray(rel @ self._rotation().T)

    def project(self, points_3d: np.ndarray) -> np.ndarray:
        """(N, 3) world points to (N, 2) pixels; points behind the camera give NaN."""
        cam = self.camera_coords(points_3d)
        depth = np.where(cam[:, 2] > 1e-6, cam[:, 2], np.nan)
        u = self.focal_px * cam[:, 0] / depth + self.width / 2.0
        v = self.focal_px * cam[:, 1] / depth + self.height / 2.0
        return np.stack([u, v], axis=1)

    def depth(self, ground: np.ndarray) -> np.ndarray:
        """Distance along the optical axis of (N, 2) ground points, in metres."""
        pts = np.asarray(ground, dtype=float).reshape(-1, 2)
        s, c = math.sin(math.radians(self.tilt_deg)), math.cos(math.radians(self.tilt_deg))
        return c * pts[:, 1] + s * self.height_m

    def homography_ground_to_image(self) -> np.ndarray:
        """3x3 matrix mapping homogeneous ground (x, y, 1) in metres to pixels."""
        r = self._rotation()
        extrinsic = np.column_stack([r[:, 0], r[:, 1], -r @ np.array([0.0, 0.0, self.height_m])])
        h = self._intrinsics() @ extrinsic
        return np.asarray(h / h[2, 2])

    def homography_image_to_ground(self) -> np.ndarray:
        """3x3 matrix mapping homogeneous pixels (u, v, 1) to ground metres."""
        h = np.linalg.inv(self.homography_ground_to_image())
        return h / h[2, 2] if abs(h[2, 2]) > 1e-12 else h

    def ground_to_image(self, pts: np.ndarray) -> np.ndarray:
        """(N, 2) ground points in metres to (N, 2) pixels (NaN behind the camera)."""
        ground = np.asarray(pts, dtype=float).reshape(-1, 2)
        px = _apply_homography(self.homography_ground_to_image(), ground)
        px[self.depth(ground) <= 1e-6] = np.nan
        return px

    def image_to_ground(self, pts: np.ndarray) -> np.ndarray:
        """(N, 2) pixels to (N, 2) ground metres; pixels at or above the horizon give NaN."""
        px = np.asarray(pts, dtype=float).reshape(-1, 2)
        ground = _apply_homography(self.homography_image_to_ground(), px)
        ground[px[:, 1] <= self.horizon_row + 1e-6] = np.nan
        return ground

    def person_height_px(self, row: float, person_m: float = 1.7) -> float:
        """Pixel height of a standing person whose feet are at image ``row``.

        Exact for any column (the camera has no roll); 0 at or above the horizon.
        """
        ground = self.image_to_ground(np.array([[self.width / 2.0, row]]))[0]
        if not np.all(np.isfinite(ground)):
            return 0.0
        head = self.project(np.array([[ground[0], ground[1], person_m]]))[0]
        return float(row - head[1])

    def ground_footprint(self, max_range_m: float) -> np.ndarray:
        """The visible ground as a (K, 2) polygon, cut at ``max_range_m`` ahead of the camera."""
        bottom = self.image_to_ground(np.array([[0.0, self.height], [self.width, self.height]]))
        far_y = max_range_m
        top_row = max(self.horizon_row + 1.0, 0.0)
        top = self.image_to_ground(np.array([[0.0, top_row], [self.width, top_row]]))
        if top[0, 1] < far_y:
            far_y = float(top[0, 1])
        half = self.half_width_at(far_y)
        return np.array(
            [bottom[0], bottom[1], [half, far_y], [-half, far_y]], dtype=float
        )

    def half_width_at(self, ground_y: float) -> float:
        """Half the visible ground width (metres) at distance ``ground_y`` ahead."""
        depth = float(self.depth(np.array([[0.0, ground_y]]))[0])
        return depth * (self.width / 2.0) / self.focal_px

    def in_view(self, pts: np.ndarray, margin_px: float = 0.0) -> np.ndarray:
        """Mask of ground points whose image falls inside the frame (plus a margin)."""
        px = self.ground_to_image(pts)
        with np.errstate(invalid="ignore"):
            return (
                (px[:, 0] >= -margin_px)
                & (px[:, 0] <= self.width + margin_px)
                & (px[:, 1] >= -margin_px)
                & (px[:, 1] <= self.height + margin_px)
            )


def _apply_homography(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.asarray(pts, dtype=float).reshape(-1, 2)
    hom = p @ h[:, :2].T + h[:, 2]
    w = np.where(np.abs(hom[:, 2]) > 1e-12, hom[:, 2], np.nan)
    return np.asarray(hom[:, :2] / w[:, None])


def standard_geometries() -> list[CameraModel]:
    """Realistic CCTV mountings for tests and benchmarks.

    720p at 6 m / 30°, 720p at 10 m / 45°, 720p at 4 m / 20° (low, shallow: strong
    perspective and occlusion), 1080p at 15 m / 50° (high mast), 480p at 8 m / 35°.
    """
    return [
        CameraModel.from_fov(1280, 720, 70.0, 6.0, 30.0),
        CameraModel.from_fov(1280, 720, 60.0, 10.0, 45.0),
        CameraModel.from_fov(1280, 720, 75.0, 4.0, 20.0),
        CameraModel.from_fov(1920, 1080, 55.0, 15.0, 50.0),
        CameraModel.from_fov(640, 480, 60.0, 8.0, 35.0),
    ]
