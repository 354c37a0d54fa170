"""Settings for every process, read from the environment (``SHARPEYES_*``).

Nothing here is created at import time: call :func:`load_settings` (or build
:class:`Settings` directly in tests) and pass the result down.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.urls import DatabaseUrl, MqttUrl


class UnknownDevicePolicy(StrEnum):
    """What ingest does with a message from a device the registry does not know."""

    QUARANTINE = "quarantine"
    AUTO_REGISTER = "auto_register"


class EmbeddedBroker(StrEnum):
    """Which embedded MQTT broker to start when no broker URL is configured."""

    AUTO = "auto"
    MOSQUITTO = "mosquitto"
    AMQTT = "amqtt"


class Environment(StrEnum):
    """Production refuses example secrets and requires a token secret; development
    generates one per data directory."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class CountingMethod(StrEnum):
    """How the video analyser counts people (docs/video.md)."""

    AUTO = "auto"
    YOLOX = "yolox"
    DENSITY = "density"
    CLASSIC = "classic"
    DETECT = "detect"
    REGRESS = "regress"
    HEADS = "heads"
    ONNX = "onnx"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("sharpeyes", appauthor=False))


class Settings(BaseSettings):
    """The one configuration tree; every field maps to ``SHARPEYES_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="SHARPEYES_", extra="forbid")

    database_url: DatabaseUrl | None = Field(
        None, repr=False,  # may carry a password
        description="PostgreSQL URL; unset starts the embedded PostgreSQL.",
    )
    mqtt_url: MqttUrl | None = Field(
        None, repr=False,
        description="Broker URL mqtt://[user:pass@]host:port; unset starts an embedded broker.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the embedded PostgreSQL and broker keep their data.",
    )
    embedded_broker: EmbeddedBroker = Field(
        EmbeddedBroker.AUTO,
        description="auto (mosquitto if on PATH, else amqtt), mosquitto, amqtt.",
    )
    embedded_mqtt_port: int = Field(
        0, ge=0, le=65535, description="Embedded broker: the port devices connect to (0 picks "
        "a free one; the demo remembers the last one).")
    embedded_mqtt_services_port: int = Field(
        0, ge=0, le=65535, description="Embedded Mosquitto: the services' own listener "
        "(0 picks a free one).")
    topic_prefix: str = Field("sharpeyes", description="Root of every MQTT topic of the contract.")
    api_host: str = Field("127.0.0.1", description="Address the API binds to.")
    api_port: int = Field(0, ge=0, le=65535, description="API port; 0 picks a free port.")
    api_workers: int = Field(
        1, ge=1, le=64, description="API worker processes for `sharpeyes serve api` (one "
        "process uses one core); they share one listening socket.",
    )
    dashboard_tile_url: str = Field(
        "", pattern=r"^(https?://[^/\s]+/\S*\{z\}\S*)?$",
        description="Optional base map for the dashboard: a tile URL template such as "
        "https://tiles.example.gov/{z}/{x}/{y}.png (its origin is added to the page's "
        "Content-Security-Policy). Empty: no tiles, nothing fetched.",
    )
    dashboard_tile_attribution: str = Field(
        "", max_length=300, description="Attribution text shown with the tiles.")
    time_zone: str = Field(
        "Asia/Shanghai", max_length=64,
        description="The centre's time zone (an IANA name): the dashboard and the worker app "
        "show dates and times in it.")
    ingest_client_id: str = Field(
        "sharpeyes-ingest-1", description="Fixed MQTT client id: the broker keeps its session."
    )
    ingest_group: str = Field(
        "ingest", description="Shared-subscription group (used where the broker speaks MQTT 5)."
    )
    ingest_shared: bool = Field(
        False, description="Subscribe as a member of $share/<group> so replicas split the load "
        "(MQTT 5 brokers). Off by default: Mosquitto 2.0 drops messages in flight to a shared "
        "subscriber when the broker restarts; a single consumer loses nothing.",
    )
    ingest_partition: str | None = Field(
        None, pattern=r"^\d+/\d+$",
        description="'i/n': this replica takes the devices whose CRC-32 of the id modulo n is "
        "i, by subscribing to their own topics (no shared subscription needed). Replica 0 "
        "also takes unregistered devices and adapter topics.",
    )
    ingest_catch_all: bool = Field(
        True, description="With partitions: replica 0 subscribes to the contract wildcards "
        "so messages of unregistered devices still reach dead letters or auto-registration, "
        "at the cost of receiving every message. Set false where the broker admits only "
        "registered devices (ACLs from `sharpeyes broker acl`): then each replica receives "
        "only its own devices' messages.",
    )
    ingest_batch_size: int = Field(2000, ge=1, description="Flush a batch at this many messages.")
    ingest_flush_seconds: float = Field(
        0.2, gt=0, description="Flush a non-empty batch at least this often."
    )
    ingest_queue_size: int = Field(
        20000, ge=100, description="Bound of the receive queue; when full, reading pauses."
    )
    ingest_max_payload_bytes: int = Field(
        256 * 1024, ge=1024, description="Larger payloads go to dead letters."
    )
    adapters_file: Path | None = Field(
        None, description="JSON (or YAML) file mapping Frigate, ONVIF and ThingsBoard networks "
        "to registered devices and zones (docs/adapters.md).",
    )
    unknown_devices: UnknownDevicePolicy = Field(
        UnknownDevicePolicy.QUARANTINE,
        description="quarantine (dead letter) or auto_register unknown devices.",
    )
    max_clock_skew_seconds: float = Field(
        30, gt=0, le=3600,
        description="Reports further in the future than this are rejected (devices keep NTP "
        "time; a report from a fast clock is stored with the commit time as 'current').",
    )
    max_report_age_seconds: float = Field(
        7 * 24 * 3600, gt=0, description="Reports older than this are rejected."
    )
    video_shard_index: int = Field(
        0, ge=0, description="Which share of the cameras this video analyser takes (0-based)."
    )
    video_shard_count: int = Field(
        1, ge=1, description="How many video analysers split the cameras (CRC-32 of the id)."
    )
    video_rate_hz: float = Field(
        0.5, gt=0, le=10,
        description="Analyses per second per camera (crowd density changes over tens of "
        "seconds; 0.5 keeps the learned detector within 80 ms of a core per second).",
    )
    video_method: CountingMethod = Field(
        CountingMethod.AUTO,
        description="Counting method: auto (learned detector, density network in dense zones), "
        "yolox (detector only), density (CSRNet only), classic (the classical auto), detect "
        "(HOG), regress, heads, onnx.",
    )
    video_model: str | None = Field(
        None, description="Your own ONNX person detector instead of the shipped YOLOX-nano "
        "(same input and output layout, docs/video.md).",
    )
    video_model_sha256: str | None = Field(
        None, pattern="^[0-9a-fA-F]{64}$",
        description="sha256 of SHARPEYES_VIDEO_MODEL, checked at load.",
    )
    video_providers: str = Field(
        "cpu", pattern="^(cpu|cuda|openvino)(,(cpu|cuda|openvino))*$",
        description="ONNX Runtime execution providers in order of preference (cpu, cuda, "
        "openvino); those missing from the installed build are skipped.",
    )
    alert_interval_seconds: float = Field(1.0, gt=0, description="Alert evaluation period.")
    stale_after_seconds: float = Field(
        120, gt=0, description="A zone with no report for this long is not evaluated as crowded."
    )
    dispatch_interval_seconds: float = Field(
        1.0, gt=0, description="Fallback poll period of the task dispatcher."
    )
    escalation_interval_seconds: float = Field(
        5.0, gt=0, description="How often the leader looks for overdue tasks to escalate."
    )
    jwt_secret: SecretStr | None = Field(
        None, min_length=32,
        description="HMAC secret for access tokens (≥ 32 characters); required in production, "
        "generated and kept in the data directory in development.",
    )
    token_minutes: int = Field(60, ge=1, description="Lifetime of an access token.")
    photo_max_megapixels: float = Field(
        40, gt=0, le=1000,
        description="Task photos with more pixels (width × height, read from the file's "
        "header before anything is decoded) are refused with 413.",
    )
    broker_secret: SecretStr | None = Field(
        None, min_length=32,
        description="Secret (≥ 32 characters) every broker password is derived from "
        "(sharpeyes broker acl|password; docs/deploy.md).",
    )
    retention_raw_days: int = Field(
        30, ge=1, description="Days raw observations and sensor readings are kept."
    )
    retention_minute_days: int = Field(
        90, ge=1, description="Days the per-minute zone rollups are kept."
    )
    retention_hour_days: int = Field(
        730, ge=1, description="Days the hourly zone rollups are kept."
    )
    compress_after_days: int = Field(
        8, ge=1, description="TimescaleDB compresses raw chunks older than this; also how far "
        "back late reports are re-aggregated (keep it above the maximum report age).",
    )
    environment: Environment = Field(Environment.DEVELOPMENT,
                                     description="development or production.")

    @model_validator(mode="after")
    def _shard_in_range(self) -> Settings:
        if self.video_shard_index >= self.video_shard_count:
            raise ValueError("video_shard_index must be below video_shard_count")
        return self

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"time_zone {value!r} is not an IANA time zone") from exc
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _no_wildcards(cls, value: str) -> str:
        if not value or any(c in value for c in "#+") or value.startswith("$"):
            raise ValueError("topic_prefix must be a plain topic level without wildcards")
        return value.strip("/")

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        """Production settings cannot exist with a missing, example, placeholder or
        guessable secret (:mod:`kernel.secret_policy`): no process has to remember to ask."""
        self.require_production_secrets()
        return self

    def require_production_secrets(self) -> None:
        """Refuse settings outside development without an explicit token secret, or with an
        example, placeholder or guessable one. Settings check themselves when built; this
        stays public for whoever changes a field afterwards."""
        if self.environment is Environment.DEVELOPMENT:
            return
        if self.jwt_secret is None:
            raise ValueError("set SHARPEYES_JWT_SECRET (32+ characters) outside development")
        from kernel.secret_policy import check_secret, check_url_password

        check_secret("SHARPEYES_JWT_SECRET", self.jwt_secret.get_secret_value())
        if self.broker_secret is not None:
            check_secret("SHARPEYES_BROKER_SECRET", self.broker_secret.get_secret_value())
        check_url_password("SHARPEYES_MQTT_URL", self.mqtt_url)
        check_url_password("SHARPEYES_DATABASE_URL", self.database_url)

    def token_secret(self) -> str:
        """The configured secret, or in development one generated once per data directory."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        self.require_production_secrets()
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags, tests).

    Raises :class:`pydantic.ValidationError`; :func:`describe_problems` words it for people.
    """
    return Settings(**overrides)  # type: ignore[arg-type]


def describe_problems(exc: ValidationError) -> str:
    """One line per refused setting, by its environment variable, never with its value
    (it may be a secret or carry a password)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        name = f"SHARPEYES_{field.upper()}" if field else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(message if message.startswith("SHARPEYES_") or message.startswith("set ")
                     else f"{name}: {message}")
    return "; ".join(lines)
