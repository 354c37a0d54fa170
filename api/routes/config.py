"""What the dashboard and the worker app need to know before anyone signs in: the
centre's time zone (``SHARPEYES_TIME_ZONE``) and the languages the UI speaks."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import ServicesDep

router = APIRouter(prefix="/api/v1", tags=["auth"])

LANGUAGES = ("zh-CN", "en")


class ConfigOut(BaseModel):
    time_zone: str = Field(description="IANA time zone in which the UI shows dates and times.")
    languages: list[str] = Field(description="Languages of the UI, the default first.")


@router.get("/config", response_model=ConfigOut)
def ui_config(services: ServicesDep) -> ConfigOut:
    """Public: the time zone and languages of the UI (nothing secret, no sign-in)."""
    return ConfigOut(time_zone=services.settings.time_zone, languages=list(LANGUAGES))
