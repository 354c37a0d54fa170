"""The JSON format of rules (API bodies) and the checks that explain what is wrong.

Shape errors (types, ranges, unknown keys) are pydantic's; :func:`check_rule` adds the
rules that depend on the kind — which parameters, which thresholds and in which order,
which scopes — and reports every problem with its location (``body.params.metric``).
Checks that need the store (does the zone exist, is it yours) are in
:mod:`alerts.access` and :mod:`alerts.rule_store`.
"""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alerts.device_rules import DEFAULT_TAMPER_PATTERNS
from alerts.errors import Invalid, Problem
from alerts.model import DEVICE_KINDS, MAX_DENSITY, Channel, RuleKind, Severity

_STRICT = ConfigDict(extra="forbid")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_ALL_DAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ScopeIn(BaseModel):
    model_config = _STRICT
    zone_id: str | None = Field(default=None, max_length=64, description="This zone only.")
    place_kind: str | None = Field(default=None, max_length=64,
                                   description="Places of this kind only.")
    region_id: str | None = Field(default=None, max_length=64,
                                  description="This region's subtree only.")
    device_id: str | None = Field(default=None, max_length=64, description="This device only.")


class ScheduleIn(BaseModel):
    model_config = _STRICT
    days: list[Weekday] = Field(default_factory=lambda: list(_ALL_DAYS), min_length=1)
    start: str = Field(default="00:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM")
    end: str = Field(default="24:00", pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$",
                     description="HH:MM; before start means overnight")
    timezone: str = Field(default="UTC", max_length=64, description="IANA name, e.g. Asia/Shanghai")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "Asia/Shanghai)") from exc
        return value


class _NoParams(BaseModel):
    model_config = _STRICT


class RateParams(BaseModel):
    model_config = _STRICT
    window_seconds: float = Field(default=60, ge=5, le=3600)
    metric: Literal["density", "count"] = "density"
    min_samples: int = Field(default=3, ge=2, le=10_000)
    refit_seconds: float = Field(default=5, ge=0, le=60, description="Reuse a fit this long.")


class ForecastParams(BaseModel):
    model_config = _STRICT
    horizon_seconds: float = Field(default=300, gt=0, le=3600)
    window_seconds: float = Field(default=300, ge=10, le=3600)
    method: Literal["linear", "holt"] = "linear"
    min_samples: int = Field(default=5, ge=3, le=1000)
    alpha: float = Field(default=0.5, gt=0, le=1)
    beta: float = Field(default=0.3, gt=0, le=1)
    refit_seconds: float = Field(default=5, ge=0, le=60, description="Reuse a fit this long.")


class SensorParams(BaseModel):
    model_config = _STRICT
    metric: str = Field(min_length=1, max_length=64)
    direction: Literal["above", "below"] = "above"


class OfflineParams(BaseModel):
    model_config = _STRICT
    device_kind: Literal["camera", "sensor"] | None = None


class StaleParams(BaseModel):
    model_config = _STRICT
    device_kind: Literal["camera", "sensor"] | None = "camera"


class TamperParams(BaseModel):
    model_config = _STRICT
    patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_TAMPER_PATTERNS),
                                min_length=1, max_length=50)

    @field_validator("patterns")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        if any(not p.strip() or len(p) > 100 for p in value):
            raise ValueError("patterns must be non-blank and at most 100 characters")
        return value


class CompositeParams(BaseModel):
    model_config = _STRICT
    all_of: list[int] = Field(min_length=1, max_length=10, description="Rule ids that agree.")
    min_devices: int = Field(default=1, ge=1, le=20, description="Distinct devices behind them.")


PARAMS: dict[RuleKind, type[BaseModel]] = {
    RuleKind.DENSITY_ABOVE: _NoParams, RuleKind.COUNT_ABOVE: _NoParams,
    RuleKind.RATE_OF_RISE: RateParams, RuleKind.FORECAST_BREACH: ForecastParams,
    RuleKind.SENSOR_THRESHOLD: SensorParams, RuleKind.DEVICE_OFFLINE: OfflineParams,
    RuleKind.STALE_DATA: StaleParams, RuleKind.CAMERA_TAMPER: TamperParams,
    RuleKind.COMPOSITE: CompositeParams,
}

_DEFAULT_CHANNELS = [Channel.TASK, Channel.WEBHOOK, Channel.MQTT]


class RuleIn(BaseModel):
    """A rule as created (POST) or, merged with the stored one, updated (PATCH)."""

    model_config = _STRICT
    name: str = Field(min_length=1, max_length=200)
    kind: RuleKind
    scope: ScopeIn = Field(default_factory=lambda: ScopeIn())
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    clear_threshold: float | None = Field(default=None, allow_inf_nan=False)
    for_seconds: float = Field(default=0, ge=0, le=86_400,
                               description="Held this long before firing.")
    clear_for_seconds: float = Field(default=0, ge=0, le=86_400,
                                     description="Cleared this long before resolving.")
    cooldown_seconds: float = Field(default=60, ge=0, le=86_400,
                                    description="No new alert this soon after a resolution.")
    repeat_seconds: float | None = Field(default=None, ge=10, le=604_800,
                                         description="Re-notify while unacknowledged.")
    severity: Severity | None = Field(default=None, description="None: from the density level.")
    params: dict[str, Any] = Field(default_factory=dict)
    schedule: ScheduleIn | None = None
    channels: list[Channel] = Field(default_factory=lambda: list(_DEFAULT_CHANNELS))
    enabled: bool = True


class RulePatch(BaseModel):
    """Fields to change; anything left out keeps its stored value."""

    model_config = _STRICT
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: RuleKind | None = None
    scope: ScopeIn | None = None
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    clear_threshold: float | None = Field(default=None, allow_inf_nan=False)
    for_seconds: float | None = Field(default=None, ge=0, le=86_400)
    clear_for_seconds: float | None = Field(default=None, ge=0, le=86_400)
    cooldown_seconds: float | None = Field(default=None, ge=0, le=86_400)
    repeat_seconds: float | None = Field(default=None, ge=10, le=604_800)
    severity: Severity | None = None
    params: dict[str, Any] | None = None
    schedule: ScheduleIn | None = None
    channels: list[Channel] | None = None
    enabled: bool | None = None


def problems_of(error: ValidationError, prefix: str) -> list[Problem]:
    return [Problem(".".join([prefix, *(str(p) for p in e["loc"])]), e["msg"])
            for e in error.errors()]


def normalized_params(rule: RuleIn) -> dict[str, Any]:
    """The kind's parameters with defaults filled in; Invalid with locations otherwise."""
    try:
        return PARAMS[rule.kind].model_validate(rule.params).model_dump()
    except ValidationError as exc:
        raise Invalid(problems_of(exc, "body.params")) from exc


def check_rule(rule: RuleIn) -> dict[str, Any]:
    """Every kind-dependent problem of ``rule`` at once; return its normalized params."""
    problems: list[Problem] = []
    try:
        params = normalized_params(rule)
    except Invalid as exc:
        problems += exc.problems
        params = {}
    problems += _threshold_problems(rule, params)
    problems += _scope_problems(rule)
    if rule.kind is RuleKind.COMPOSITE and params:
        problems += _composite_problems(params)
    if problems:
        raise Invalid(problems)
    return params


_UNITS = {RuleKind.DENSITY_ABOVE: "persons/m²", RuleKind.FORECAST_BREACH: "persons/m²",
          RuleKind.COUNT_ABOVE: "persons", RuleKind.RATE_OF_RISE: "increase per minute",
          RuleKind.SENSOR_THRESHOLD: "the metric's unit", RuleKind.STALE_DATA: "seconds"}
_ZONE_DEFAULTS = {RuleKind.DENSITY_ABOVE, RuleKind.FORECAST_BREACH}


def _threshold_problems(rule: RuleIn, params: dict[str, Any]) -> list[Problem]:
    kind, t, c = rule.kind, rule.threshold, rule.clear_threshold
    if kind not in _UNITS:
        hint = "; use for_seconds for how long" if kind is RuleKind.DEVICE_OFFLINE else ""
        return [Problem(f"body.{name}", f"does not apply to {kind} rules{hint}")
                for name, v in (("threshold", t), ("clear_threshold", c)) if v is not None]
    if t is None:
        if kind in _ZONE_DEFAULTS:
            return [] if c is None else [Problem(
                "body.clear_threshold", "needs a threshold; leave both out to use each "
                "zone's own levels (fire at critical_density, clear below warn_density)")]
        return [Problem("body.threshold", f"{kind} rules need a threshold ({_UNITS[kind]})")]
    return ordering_problems(kind, t, c, params.get("direction") == "below")


def ordering_problems(kind: RuleKind, t: float, c: float | None,
                       below: bool) -> list[Problem]:
    problems = []
    if kind is not RuleKind.SENSOR_THRESHOLD and t <= 0:
        problems.append(Problem("body.threshold", "must be greater than 0"))
    if kind in _ZONE_DEFAULTS and t > MAX_DENSITY:
        problems.append(Problem("body.threshold", f"{t:g}/m² is impossible: densities above "
                                f"{MAX_DENSITY:g}/m² are refused by ingest"))
    if c is not None and not below and c > t:
        problems.append(Problem("body.clear_threshold", f"{c:g} is above the threshold {t:g}; "
                                "an alert clears when the value falls below clear_threshold"))
    if c is not None and below and c < t:
        problems.append(Problem("body.clear_threshold", f"{c:g} is below the threshold {t:g}; "
                                "a 'below' alert clears when the value rises above it"))
    if c is not None and c < 0 and kind is not RuleKind.SENSOR_THRESHOLD:
        problems.append(Problem("body.clear_threshold", "must not be negative"))
    return problems


def _scope_problems(rule: RuleIn) -> list[Problem]:
    scope, kind = rule.scope, rule.kind
    if kind in DEVICE_KINDS and scope.zone_id is not None:
        return [Problem("body.scope.zone_id", f"{kind} rules watch devices: scope them by "
                        "device_id, place_kind or region_id")]
    if kind is RuleKind.COMPOSITE:
        return [Problem(f"body.scope.{name}", "composite rules are evaluated per place: scope "
                        "them by place_kind or region_id")
                for name in ("zone_id", "device_id") if getattr(scope, name) is not None]
    return []


def _composite_problems(params: dict[str, Any]) -> list[Problem]:
    ids = params["all_of"]
    if len(set(ids)) != len(ids):
        return [Problem("body.params.all_of", "lists a rule twice")]
    if len(ids) == 1 and params["min_devices"] < 2:
        return [Problem("body.params.min_devices", "with a single rule in all_of, set "
                        "min_devices ≥ 2 (e.g. two cameras of one place agree)")]
    return []
