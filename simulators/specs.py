"""What the simulators know of each camera: its id and the zones it counts, with places.

Shared by the camera model (:mod:`simulators.camera`), the sensors placed beside its
zones (:mod:`simulators.sensors`) and the scenarios, so none of them imports another
for these types.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CameraZone:
    """A zone a camera counts, with what the scenarios need to know about its place."""

    zone_id: str
    area_m2: float
    name: str | None = None
    place_id: str | None = None
    place_kind: str | None = None
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True, slots=True)
class CameraSpec:
    device_id: str
    zones: tuple[CameraZone, ...]
