"""Ground-plane geometry of a camera: the ``devices.calibration`` JSON and what follows.

Owns the calibration format (:class:`CalibrationSpec`, documented in docs/video.md) and
:class:`GroundModel`, a pinhole camera over flat ground from which come the homography
image → ground (metres), each zone's walkable area, the ground area every pixel covers
and the pixel height of a standing person anywhere in the image.

Conventions match ``simulators/render/camera.py``: ground metres on z = 0, z up; pixels
(u, v) with v down; principal point at the image centre; square pixels, no distortion.

A model comes from, in order of preference: four or more image ↔ ground point pairs
(the focal length is recovered from the homography when the view allows it); a person's
pixel height at two or more rows (focal length from ``hfov_deg``, camera height and tilt
solved); or, without any calibration, person boxes the detector found
(:func:`estimate_from_detections`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from video.errors import CalibrationError
from video.model import Detection, Point

DEFAULT_HFOV_DEG = 60.0
PERSON_HEIGHT_M = 1.7
# Zones are clipped where the ground is this much farther away than at the bottom row.
_MAX_RANGE_FACTOR = 60.0


class PointPair(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    image: tuple[float, float] = Field(description="Pixel (x, y) in the calibration image.")
    ground: tuple[float, float] = Field(description="The same point on the ground, metres.")


class PersonHeight(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    row: float = Field(description="Image row (y) of a standing person's feet.")
    height_px: float = Field(gt=0, description="That person's height in pixels.")


class CalibrationSpec(BaseModel):
    """``devices.calibration``: either ``points`` or ``person_heights`` (docs/video.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    image_size: tuple[int, int] | None = Field(
        None, description="(width, height) the coordinates refer to; other frame sizes are scaled."
    )
    points: list[PointPair] | None = Field(
        None, min_length=4, description="Four or more image ↔ ground (metres) point pairs."
    )
    person_heights: list[PersonHeight] | None = Field(
        None, min_length=2, description="A person's pixel height at two or more image rows."
    )
    hfov_deg: float | None = Field(
        None, gt=5, lt=170,
        description="Horizontal field of view; default 60° (recovered from points when possible).",
    )
    person_height_m: float = Field(
        PERSON_HEIGHT_M, gt=0.5, lt=2.5, description="Height of the people measured, metres."
    )

    @model_validator(mode="after")
    def _one_method(self) -> CalibrationSpec:
        if (self.points is None) == (self.person_heights is None):
            raise ValueError("give exactly one of points or person_heights")
        if self.person_heights is not None:
            rows = {round(p.row) for p in self.person_heights}
            if len(rows) < 2:
                raise ValueError("person_heights needs two different rows")
        return self


def _rotation(tilt_deg: float) -> np.ndarray:
    s, c = math.sin(math.radians(tilt_deg)), math.cos(math.radians(tilt_deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, -s, -c], [0.0, c, -s]])


def _intrinsics(width: int, height: int, focal: float) -> np.ndarray:
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def focal_from_hfov(width: int, hfov_deg: float) -> float:
    return (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)


def _apply(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.asarray(pts, dtype=float).reshape(-1, 2)
    hom = p @ h[:, :2].T + h[:, 2]
    w = np.where(np.abs(hom[:, 2]) > 1e-12, hom[:, 2], np.nan)
    return np.asarray(hom[:, :2] / w[:, None])


@dataclass(frozen=True, slots=True, eq=False)
class GroundModel:
    """A calibrated view: homography image → ground and a 3x4 projection for heights."""

    width: int
    height: int
    image_to_ground_h: np.ndarray
    projection: np.ndarray
    person_m: float = PERSON_HEIGHT_M
    source: str = "camera"
    _valid_sign: float = field(init=False, default=1.0)

    def __post_init__(self) -> None:
        w = self._w(np.array([[self.width / 2.0, float(self.height)]]))[0]
        object.__setattr__(self, "_valid_sign", 1.0 if w >= 0 else -1.0)

    @classmethod
    def from_camera(cls, width: int, height: int, focal_px: float, height_m: float,
                    tilt_deg: float, person_m: float = PERSON_HEIGHT_M,
                    source: str = "camera") -> GroundModel:
        r = _rotation(tilt_deg)
        t = -r @ np.array([0.0, 0.0, height_m])
        p = _intrinsics(width, height, focal_px) @ np.column_stack([r, t])
        g2i = p[:, [0, 1, 3]]
        return cls(width, height, np.linalg.inv(g2i), p, person_m, source)

    def _w(self, pts: np.ndarray) -> np.ndarray:
        p = np.asarray(pts, dtype=float).reshape(-1, 2)
        return np.asarray(p @ self.image_to_ground_h[2, :2] + self.image_to_ground_h[2, 2])

    def valid(self, pts: np.ndarray) -> np.ndarray:
        """Mask of pixels that see the ground (below the horizon)."""
        return np.asarray(self._w(pts) * self._valid_sign > 1e-12)

    def to_ground(self, pts: np.ndarray) -> np.ndarray:
        """(N, 2) pixels → (N, 2) ground metres; NaN at or above the horizon."""
        ground = _apply(self.image_to_ground_h, pts)
        ground[~self.valid(pts)] = np.nan
        return ground

    def to_image(self, ground: np.ndarray) -> np.ndarray:
        g = np.asarray(ground, dtype=float).reshape(-1, 2)
        return self.project(np.column_stack([g, np.zeros(len(g))]))

    def project(self, pts3: np.ndarray) -> np.ndarray:
        p = np.asarray(pts3, dtype=float).reshape(-1, 3)
        hom = p @ self.projection[:, :3].T + self.projection[:, 3]
        w = np.where(hom[:, 2] > 1e-9, hom[:, 2], np.nan)
        return np.asarray(hom[:, :2] / w[:, None])

    def person_height_px(self, feet: np.ndarray) -> np.ndarray:
        """Pixel height of a standing person whose feet are at each (x, y); 0 above the horizon."""
        feet = np.asarray(feet, dtype=float).reshape(-1, 2)
        ground = self.to_ground(feet)
        head = self.project(np.column_stack([ground, np.full(len(ground), self.person_m)]))
        h = feet[:, 1] - head[:, 1]
        return np.asarray(np.nan_to_num(np.asarray(h, dtype=float), nan=0.0))

    def pixel_area_m2(self, pts: np.ndarray) -> np.ndarray:
        """Ground area (m²) each pixel covers: |det H| / w³ (0 above the horizon)."""
        w = self._w(pts) * self._valid_sign
        det = abs(float(np.linalg.det(self.image_to_ground_h)))
        w_min = self._w_min()
        return np.where(w > 1e-12, det / np.maximum(w, w_min) ** 3, 0.0)

    def ground_scale_px_per_m(self, pts: np.ndarray) -> np.ndarray:
        """Pixels per metre of ground at each pixel (geometric mean of both directions)."""
        area = self.pixel_area_m2(pts)
        return np.where(area > 0, 1.0 / np.sqrt(np.where(area > 0, area, 1.0)), 0.0)

    def _w_min(self) -> float:
        bottom = abs(float(self._w(np.array([[self.width / 2.0, float(self.height)]]))[0]))
        return bottom / _MAX_RANGE_FACTOR

    def clip_to_ground(self, polygon: np.ndarray) -> np.ndarray:
        """The part of an image polygon that sees ground within range (Sutherland–Hodgman)."""
        poly = np.asarray(polygon, dtype=float).reshape(-1, 2)
        g = self._w(poly) * self._valid_sign - self._w_min()
        out: list[np.ndarray] = []
        for i in range(len(poly)):
            a, b, ga, gb = poly[i - 1], poly[i], g[i - 1], g[i]
            if ga >= 0:
                out.append(a)
            if (ga >= 0) != (gb >= 0):
                out.append(a + (b - a) * (ga / (ga - gb)))
        return np.array(out).reshape(-1, 2)

    def area_m2(self, polygon: Sequence[Point] | np.ndarray) -> float:
        """Walkable ground area of an image polygon, m² (0 when it lies above the horizon)."""
        clipped = self.clip_to_ground(np.asarray(polygon, dtype=float))
        if len(clipped) < 3:
            return 0.0
        x, y = self.to_ground(clipped).T
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)

    def scaled(self, width: int, height: int) -> GroundModel:
        """The same view for frames of another resolution."""
        s = np.diag([width / self.width, height / self.height, 1.0])
        return GroundModel(width, height, self.image_to_ground_h @ np.linalg.inv(s),
                           s @ self.projection, self.person_m, self.source)


# -- from point pairs ---------------------------------------------------------------------

def _focal_from_homography(g2i: np.ndarray, width: int, height: int) -> float | None:
    """Focal length making the homography's first two columns orthogonal and equally long."""
    t = np.array([[1.0, 0.0, -width / 2.0], [0.0, 1.0, -height / 2.0], [0.0, 0.0, 1.0]])
    g = t @ g2i
    g = g / np.linalg.norm(g[:, :2])
    (a1, a2, _), (b1, b2, _), (c1, c2, _) = g
    # Least squares in u = 1/f² of h1ᵀωh2 = 0 and h1ᵀωh1 = h2ᵀωh2, ω = diag(u, u, 1).
    coef = np.array([a1 * a2 + b1 * b2, a1**2 + b1**2 - a2**2 - b2**2])
    rhs = np.array([-c1 * c2, c2**2 - c1**2])
    if float(coef @ coef) < 1e-18:
        return None
    u = float(coef @ rhs) / float(coef @ coef)
    if u <= 0:
        return None
    f = 1.0 / math.sqrt(u)
    return f if focal_from_hfov(width, 150.0) < f < focal_from_hfov(width, 8.0) else None


def from_points(width: int, height: int, image_pts: np.ndarray, ground_pts: np.ndarray,
                hfov_deg: float | None = None,
                person_m: float = PERSON_HEIGHT_M) -> GroundModel:
    """A model from four or more image ↔ ground point pairs."""
    img = np.asarray(image_pts, dtype=np.float64).reshape(-1, 2)
    gnd = np.asarray(ground_pts, dtype=np.float64).reshape(-1, 2)
    if len(img) < 4 or len(img) != len(gnd):
        raise CalibrationError("need four or more image ↔ ground point pairs")
    g2i, _ = cv2.findHomography(gnd, img, 0)
    if g2i is None or abs(np.linalg.det(g2i)) < 1e-12:
        raise CalibrationError("the point pairs are degenerate (three in a line?)")
    focal = _focal_from_homography(g2i, width, height) if hfov_deg is None else None
    focal = focal or focal_from_hfov(width, hfov_deg or DEFAULT_HFOV_DEG)
    projection = _pose_from_homography(g2i, _intrinsics(width, height, focal), width, height,
                                       person_m)
    return GroundModel(width, height, np.linalg.inv(g2i), projection, person_m, "points")


def _pose_from_homography(g2i: np.ndarray, k: np.ndarray, width: int, height: int,
                          person_m: float) -> np.ndarray:
    m = np.linalg.inv(k) @ g2i
    lam = 2.0 / (np.linalg.norm(m[:, 0]) + np.linalg.norm(m[:, 1]))
    bottom = np.linalg.inv(g2i) @ np.array([width / 2.0, float(height), 1.0])
    ground = bottom / bottom[2]
    if (lam * m @ ground)[2] < 0:
        lam = -lam
    r1, r2, t = lam * m[:, 0], lam * m[:, 1], lam * m[:, 2]
    u, _, vt = np.linalg.svd(np.column_stack([r1, r2, np.cross(r1, r2)]))
    r = u @ vt
    for sign in (1.0, -1.0):
        p = k @ np.column_stack([r[:, 0], r[:, 1], sign * r[:, 2], t])
        feet = p @ np.array([ground[0], ground[1], 0.0, 1.0])
        head = p @ np.array([ground[0], ground[1], person_m, 1.0])
        if head[1] / head[2] < feet[1] / feet[2]:
            return np.asarray(p)
    raise CalibrationError("cannot tell up from down in this calibration")


# -- from person heights -------------------------------------------------------------------

def _heights(rows: np.ndarray, cy: float, focal: float, tilt: np.ndarray,
             ratio: np.ndarray) -> np.ndarray:
    """Pixel height at ``rows`` of a person ``ratio`` × camera height, camera tilted ``tilt``."""
    beta = tilt[..., None] + np.arctan((rows - cy) / focal)
    beta_head = np.arctan((1.0 - ratio[..., None]) * np.tan(np.clip(beta, 1e-6, None)))
    head = cy + focal * np.tan(beta_head - tilt[..., None])
    return np.where(beta > 1e-6, rows - head, 0.0)


def _solve_tilt_ratio(rows: np.ndarray, hs: np.ndarray, cy: float,
                      focal: float) -> tuple[float, float]:
    tilt_lo, tilt_hi, r_lo, r_hi = 0.1, 89.5, math.log(0.003), math.log(0.97)
    best = (0.0, 0.0)
    for _ in range(4):
        tilt, lratio = np.meshgrid(np.radians(np.linspace(tilt_lo, tilt_hi, 120)),
                                   np.linspace(r_lo, r_hi, 120), indexing="ij")
        pred = _heights(rows, cy, focal, tilt, np.exp(lratio))
        err = np.sum(np.log(np.maximum(pred, 1e-3) / hs) ** 2, axis=-1)
        i, j = np.unravel_index(int(np.argmin(err)), err.shape)
        best = (math.degrees(float(tilt[i, j])), float(lratio[i, j]))
        dt, dr = (tilt_hi - tilt_lo) / 20, (r_hi - r_lo) / 20
        tilt_lo, tilt_hi = max(0.05, best[0] - dt), min(89.9, best[0] + dt)
        r_lo, r_hi = best[1] - dr, min(math.log(0.99), best[1] + dr)
    return best[0], math.exp(best[1])


def from_person_heights(width: int, height: int, rows: Sequence[float],
                        heights_px: Sequence[float], hfov_deg: float | None = None,
                        person_m: float = PERSON_HEIGHT_M, source: str = "person_heights"
                        ) -> GroundModel:
    """A model from a person's pixel height at two or more rows (camera height and tilt solved)."""
    r = np.asarray(rows, dtype=float)
    h = np.asarray(heights_px, dtype=float)
    if len(r) < 2 or np.ptp(r) < 1.0:
        raise CalibrationError("need person heights at two different rows")
    focal = focal_from_hfov(width, hfov_deg or DEFAULT_HFOV_DEG)
    tilt, ratio = _solve_tilt_ratio(r, h, height / 2.0, focal)
    return GroundModel.from_camera(width, height, focal, person_m / ratio, tilt, person_m, source)


def from_spec(spec: CalibrationSpec, width: int, height: int) -> GroundModel:
    """The model of ``spec`` for frames of ``width`` × ``height``."""
    w0, h0 = spec.image_size or (width, height)
    if spec.points is not None:
        model = from_points(w0, h0, np.array([p.image for p in spec.points]),
                            np.array([p.ground for p in spec.points]), spec.hfov_deg,
                            spec.person_height_m)
    else:
        people = spec.person_heights or []
        model = from_person_heights(w0, h0, [p.row for p in people],
                                    [p.height_px for p in people], spec.hfov_deg,
                                    spec.person_height_m)
    return model if (w0, h0) == (width, height) else model.scaled(width, height)


# -- without calibration ---------------------------------------------------------------------

def fit_height_line(feet_rows: np.ndarray, heights: np.ndarray) -> tuple[float, float] | None:
    """Robust least-squares ``height = a * row + b`` (outliers beyond 2.5 MAD dropped)."""
    y, h = np.asarray(feet_rows, float), np.asarray(heights, float)
    keep = np.ones(len(y), dtype=bool)
    for _ in range(3):
        if keep.sum() < 4:
            return None
        a, b = np.polyfit(y[keep], h[keep], 1)
        resid = np.abs(h - (a * y + b))
        mad = float(np.median(resid[keep])) + 1e-6
        keep = resid <= 2.5 * 1.4826 * mad + 0.05 * h
    return float(a), float(b)


def estimate_from_detections(detections: Sequence[Detection], width: int, height: int,
                             min_count: int = 8) -> GroundModel | None:
    """A rough model from detected people (tight boxes): heights against feet rows.

    ``None`` when the detections are too few or span too few rows to tell the perspective.
    """
    if len(detections) < min_count:
        return None
    feet = np.array([d.foot[1] for d in detections])
    heights = np.array([d.h for d in detections])
    if np.ptp(feet) < 0.12 * height:
        return None
    line = fit_height_line(feet, heights)
    if line is None or line[0] <= 0:
        return None
    lo, hi = np.percentile(feet, [10, 90])
    rows = [float(lo), float(hi)]
    hs = [line[0] * r + line[1] for r in rows]
    if min(hs) <= 2.0:
        return None
    try:
        return from_person_heights(width, height, rows, hs, source="estimated")
    except CalibrationError:
        return None
