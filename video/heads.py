"""Counting heads: perspective-scaled dark-blob detection for dense crowds.

Owns the dense-crowd counter. In an oblique view the foreground of a crowd saturates
above ~2 persons/m² (everyone overlaps everyone) and HOG finds nobody, but heads stay
visible: the camera is higher than the heads, so the ray to a head passes above the
people in front of it. A head is a dark blob (hair; the upper half of a face) of known
size at every image row: the ground model gives the head plane (the horizontal plane at
head-centre height), hence the head's pixel size wherever it appears and the feet under
it. The frame is cut into bands of head rows where that size varies by at most
``band_ratio``; each band is rescaled so a head's half-width is ``radius_px`` and
filtered once with a difference of Gaussians (surround minus centre: positive on dark
blobs); local maxima above ``threshold`` grey levels are heads.

Background: the same response of the empty scene (dark bollards, joints in the paving)
is learned as a per-pixel running minimum while the scene is sparse and subtracted;
it stops learning while the caller reports a crowd, so a standing crowd is not absorbed.

Heads hide heads: in an oblique view a head covers the one behind it when both stand
within a head's height of each other along the line of sight, measured on the ground as
head height / tan(depression angle). Seen heads are corrected for that with a Boolean
model of randomly placed people (:func:`unhide`), from the geometry alone.

What it is not: a person detector. In sparse scenes it also fires on dark clothing,
legs and bags (several blobs per person), so it overcounts below ~2 persons/m² — the
``auto`` method uses it only for dense zones. Identifies nobody: blobs are counted per
zone and forgotten; no face, no track, no image is kept (the background is a filtered
response, not a picture).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from video.calibration import GroundModel
from video.model import CountResult, ZoneEstimate
from video.zones import ZoneGeometry, union_rows

HEAD_CENTRE = 0.93          # head centre height / body height (head radius ≈ 0.07 h)
HEAD_HALF_WIDTH_M = 0.095   # half the width of an adult head
HEAD_ASPECT = 1.24          # head height / width


@dataclass(frozen=True, slots=True)
class HeadConfig:
    radius_px: float = 5.0       # a head's half-width after rescaling a band
    sigma_factor: float = 0.5    # centre Gaussian σ = sigma_factor · radius (hair is ~half a head)
    surround: float = 1.6        # surround σ / centre σ
    threshold: float = 10.0      # grey levels of darkness against the surround
    band_ratio: float = 1.2      # largest / smallest head in one band
    max_upscale: float = 3.0
    min_radius_px: float = 1.0   # heads smaller than this (native px) are not searched
    nms: float = 0.8             # suppression window, in head widths
    relax: float = 0.5           # grey levels per learning frame the background may rise
    min_spacing_m: float = 0.3   # two head centres are never closer on the ground


@dataclass(frozen=True, slots=True)
class HeadBand:
    """Head-centre rows [head_top, head_bottom) filtered over rows [top, bottom) at ``scale``."""

    head_top: int
    head_bottom: int
    top: int
    bottom: int
    scale: float


class HeadPlane:
    """The horizontal plane through head centres, seen by a calibrated camera."""

    def __init__(self, ground: GroundModel) -> None:
        p = ground.projection
        z = HEAD_CENTRE * ground.person_m
        self.ground = ground
        self.to_image_h = np.column_stack([p[:, 0], p[:, 1], z * p[:, 2] + p[:, 3]])
        self.to_ground_h = np.linalg.inv(self.to_image_h)
        centre = np.linalg.svd(p)[2][-1]
        self.camera = centre[:3] / centre[3]          # camera position, metres
        self.head_z = z

    def ground_of(self, heads: np.ndarray) -> np.ndarray:
        """Ground position (m) under each head-centre pixel; NaN where no head can be."""
        pts = np.asarray(heads, dtype=float).reshape(-1, 2)
        hom = pts @ self.to_ground_h[:, :2].T + self.to_ground_h[:, 2]
        w = np.where(np.abs(hom[:, 2]) > 1e-12, hom[:, 2], np.nan)
        g = hom[:, :2] / w[:, None]
        feet = self.ground.to_image(g)
        # A head centre maps to feet below it; anything else is above the head horizon.
        bad = ~(feet[:, 1] > pts[:, 1]) | ~np.isfinite(feet).all(axis=1)
        g[bad] = np.nan
        return np.asarray(g)

    def feet_of(self, heads: np.ndarray) -> np.ndarray:
        """Feet pixel of the person whose head centre is at each pixel (NaN if none)."""
        return np.asarray(self.ground.to_image(self.ground_of(heads)))

    def half_width_px(self, heads: np.ndarray) -> np.ndarray:
        """A head's half-width in pixels at each head-centre pixel (NaN if none)."""
        g = self.ground_of(heads)
        a = self._image_of(g - [HEAD_HALF_WIDTH_M, 0.0])
        b = self._image_of(g + [HEAD_HALF_WIDTH_M, 0.0])
        return np.asarray(np.hypot(*(b - a).T) / 2.0)

    def hiding_area_m2(self, ground: np.ndarray) -> np.ndarray:
        """Ground area in front of a head at each point where another head would cover its
        centre: a head's width times the depth over which the ray to the head centre
        drops by a head's height (head height / tan of the ray's depression angle)."""
        g = np.asarray(ground, dtype=float).reshape(-1, 2)
        distance = np.hypot(*(g - self.camera[:2]).T)
        rise = max(float(self.camera[2]) - self.head_z, 1e-3)   # camera above the heads
        width = 2.0 * HEAD_HALF_WIDTH_M
        return np.asarray(width * width * HEAD_ASPECT * distance / rise)

    def _image_of(self, g: np.ndarray) -> np.ndarray:
        hom = g @ self.to_image_h[:, :2].T + self.to_image_h[:, 2]
        return np.asarray(hom[:, :2] / hom[:, 2:3])


def plan_head_bands(plane: HeadPlane, config: HeadConfig) -> list[HeadBand]:
    """Bands of head rows whose head size varies by at most ``config.band_ratio``."""
    g = plane.ground
    rows = np.arange(0, g.height, 2)
    radius = np.fmin.reduce([plane.half_width_px(np.column_stack([np.full(len(rows), x), rows]))
                             for x in (g.width * 0.1, g.width * 0.5, g.width * 0.9)])
    usable = np.isfinite(radius) & (radius >= config.min_radius_px)
    bands: list[HeadBand] = []
    i = 0
    while i < len(rows):
        if not usable[i]:
            i += 1
            continue
        j = i
        while (j + 1 < len(rows) and usable[j + 1]
               and max(radius[j + 1], radius[i]) / min(radius[j + 1], radius[i])
               <= config.band_ratio):
            j += 1
        bands.append(_band(int(rows[i]), int(rows[j]) + 2, float(np.sqrt(radius[i] * radius[j])),
                           g.height, config))
        i = j + 1
    return bands


def _band(head_top: int, head_bottom: int, radius: float, height: int,
          config: HeadConfig) -> HeadBand:
    scale = min(config.radius_px / radius, config.max_upscale)
    pad = int(6 * radius) + 2   # the surround Gaussian's reach
    return HeadBand(head_top, head_bottom, max(0, head_top - pad), min(height, head_bottom + pad),
                    scale)


class HeadCounter:
    """Counts head-like blobs per zone (by the feet under each head)."""

    name = "heads"

    def __init__(self, config: HeadConfig | None = None) -> None:
        self.config = config or HeadConfig()
        self._plane: HeadPlane | None = None
        self._bands: list[HeadBand] = []
        self._key: tuple[int, ...] = ()
        self._background: dict[int, np.ndarray] = {}
        self._hiding: dict[str, float] = {}
        self.last_heads = np.zeros((0, 2))
        self._sparse_before = True

    def count(self, frame: np.ndarray, zones: Sequence[ZoneGeometry],
              ground: GroundModel | None, t: float | None = None) -> CountResult:
        """Heads per zone; the background learns while every zone reads sparse."""
        if ground is None:
            raise ValueError("head counting needs a ground model (calibration or estimated)")
        rows = self.head_rows(zones, ground)
        result = self.estimate(self.observe(frame, ground, self._sparse_before, rows), zones)
        # Its own reading overcounts sparse scenes (several blobs per person): "sparse"
        # is below 2 blobs per m².
        self._sparse_before = all(z.density is None or z.density < 2.0 for z in result.zones)
        return result

    @staticmethod
    def head_rows(zones: Sequence[ZoneGeometry], ground: GroundModel) -> tuple[int, int]:
        """Frame rows where the heads of people standing in ``zones`` can appear: from a
        person's height above the zones' top row down to their bottom row."""
        top, bottom = union_rows(zones, ground.height)
        tall = float(ground.person_height_px(np.array([[ground.width / 2.0, float(top)]]))[0])
        return max(0, int(top - 1.1 * tall)), bottom

    def observe(self, frame: np.ndarray, ground: GroundModel, learn: bool,
                rows: tuple[int, int] | None = None) -> np.ndarray:
        """Feet pixels of the heads found in ``frame`` (head centres within ``rows``, default
        all); ``learn``: update the background."""
        self._ensure(ground)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        gray = gray.astype(np.float32)
        lo, hi = rows or (0, ground.height)
        heads = [self._band_heads(gray, k, band, learn) for k, band in enumerate(self._bands)
                 if band.head_bottom > lo and band.head_top < hi]
        found = np.concatenate(heads) if heads else np.zeros((0, 3))
        assert self._plane is not None
        on_ground = self._plane.ground_of(found[:, :2])
        ok = np.isfinite(on_ground).all(axis=1)
        found, on_ground = found[ok], on_ground[ok]
        keep = spaced(on_ground, found[:, 2], self.config.min_spacing_m)
        self.last_heads = found[keep, :2]
        return np.asarray(self._plane.ground.to_image(on_ground[keep]))

    def estimate(self, feet: np.ndarray, zones: Sequence[ZoneGeometry]) -> CountResult:
        """Per-zone counts from the feet of the heads found, corrected for heads hidden
        behind heads (:func:`unhide`)."""
        out = []
        for zone in zones:
            seen = float(zone.contains(feet).sum()) if len(feet) else 0.0
            if not zone.area_m2:
                out.append(ZoneEstimate(zone.zone_id, seen, None, 0.3))
                continue
            density, hidden = unhide(seen / zone.area_m2, self._hiding_area(zone))
            out.append(ZoneEstimate(zone.zone_id, density * zone.area_m2, density,
                                    round(0.6 * (1.0 - hidden), 3)))
        return CountResult(tuple(out), self.name)

    def _hiding_area(self, zone: ZoneGeometry) -> float:
        """The hiding area at the zone's centre on the ground (cached per zone)."""
        if zone.zone_id not in self._hiding:
            assert self._plane is not None
            centre = self._plane.ground.to_ground(zone.polygon).mean(axis=0)
            area = self._plane.hiding_area_m2(centre)[0] if np.isfinite(centre).all() else 0.0
            self._hiding[zone.zone_id] = float(area)
        return self._hiding[zone.zone_id]

    def _ensure(self, ground: GroundModel) -> None:
        key = (id(ground), ground.width, ground.height)
        if key != self._key:
            self._plane = HeadPlane(ground)
            self._bands = plan_head_bands(self._plane, self.config)
            self._background = {}
            self._hiding = {}
            self._key = key

    def _band_heads(self, gray: np.ndarray, k: int, band: HeadBand, learn: bool) -> np.ndarray:
        """Head centres (frame pixels) in one band, with their responses: (N, 3)."""
        c = self.config
        s = band.scale
        image = cv2.resize(gray[band.top:band.bottom], None, fx=s, fy=s,
                           interpolation=cv2.INTER_LINEAR if s >= 1.0 else cv2.INTER_AREA)
        response = self._subtract_background(k, _darkness(image, c), learn)
        r = c.radius_px
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (
            max(3, int(2 * r * c.nms) | 1), max(3, int(2 * r * HEAD_ASPECT * c.nms) | 1)))
        peaks = (response >= cv2.dilate(response, kernel)) & (response > c.threshold)
        ys, xs = np.nonzero(peaks)
        fy, fx = ys / s + band.top, xs / s
        keep = (fy >= band.head_top) & (fy < band.head_bottom)
        return np.column_stack([fx[keep], fy[keep], response[ys[keep], xs[keep]]])

    def _subtract_background(self, k: int, response: np.ndarray, learn: bool) -> np.ndarray:
        bg = self._background.get(k)
        if bg is None or bg.shape != response.shape:
            self._background[k] = bg = response.copy()
        elif learn:
            # Running minimum: people move, the scene's own blobs stay; the slow rise
            # lets the background follow lighting and moved furniture.
            np.minimum(bg + self.config.relax, response, out=bg)
        return np.asarray(response - np.maximum(bg, 0.0))


def _darkness(image: np.ndarray, c: HeadConfig) -> np.ndarray:
    """Difference of Gaussians, surround minus centre: positive on head-sized dark blobs."""
    sigma = c.radius_px * c.sigma_factor
    centre = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma * HEAD_ASPECT)
    around = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma * c.surround,
                              sigmaY=sigma * c.surround * HEAD_ASPECT)
    return np.asarray(around - centre)


def unhide(seen: float, hiding_m2: float, cap: float = 1.0) -> tuple[float, float]:
    """True density from the density of visible heads, and the fraction hidden.

    People stand at random: a head is visible when no head stands in the hiding area in
    front of it, with probability exp(-ρ·A), so seen = ρ·exp(-ρ·A). Solved for ρ ≤ cap / A
    (Newton on ln ρ - ρ·A = ln seen, monotone from below); when even ρ·A = ``cap`` cannot
    explain so few heads (past the maximum of seen(ρ) at ρ·A = 1, more people show fewer
    heads and the observation cannot tell how many), the estimate is seen · e^cap.
    """
    if seen <= 0.0 or hiding_m2 <= 0.0:
        return max(seen, 0.0), 0.0
    if seen * hiding_m2 >= cap * math.exp(-cap):
        rho = seen * math.exp(cap)
    else:
        rho = seen
        for _ in range(50):
            step = (math.log(rho) - rho * hiding_m2 - math.log(seen)) / (1.0 / rho - hiding_m2)
            rho -= step
            if abs(step) < 1e-9 * rho:
                break
    return rho, 1.0 - seen / rho


def spaced(points: np.ndarray, scores: np.ndarray, spacing: float) -> np.ndarray:
    """Indices of ``points`` (ground metres) kept by greedy suppression, strongest first,
    of any point closer than ``spacing`` to a kept one. Blobs of one person (head and
    shoulders, seen from above) fall within a body's width of each other on the ground;
    two heads cannot."""
    order = np.argsort(-scores)
    cell = np.floor(points / spacing).astype(np.int64)
    taken: dict[tuple[int, int], list[int]] = {}
    keep: list[int] = []
    for i in order.tolist():
        cx, cy = int(cell[i, 0]), int(cell[i, 1])
        near = [j for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                for j in taken.get((cx + dx, cy + dy), ())]
        if near and np.hypot(*(points[near] - points[i]).T).min() < spacing:
            continue
        keep.append(i)
        taken.setdefault((cx, cy), []).append(i)
    return np.array(sorted(keep), dtype=np.int64)
