"""When a rule is active: weekdays and a daily window in a time zone (pure functions).

A schedule is JSON stored with the rule, validated by :mod:`alerts.definitions`::

    {"days": ["sat", "sun"], "start": "09:00", "end": "22:00", "timezone": "Asia/Shanghai"}

``end`` may be ``"24:00"``; a window whose end is before its start runs overnight
(``22:00``–``06:00``), and then the day it *started* is the one checked. No schedule
means always active.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def minutes_of(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def schedule_active(schedule: Mapping[str, Any] | None, now: datetime) -> bool:
    if not schedule:
        return True
    local = now.astimezone(ZoneInfo(schedule.get("timezone", "UTC")))
    days = set(schedule.get("days") or DAYS)
    start = minutes_of(schedule.get("start", "00:00"))
    end = minutes_of(schedule.get("end", "24:00"))
    minute = local.hour * 60 + local.minute
    if start < end:
        return DAYS[local.weekday()] in days and start <= minute < end
    if minute >= start:  # overnight window, evening part
        return DAYS[local.weekday()] in days
    yesterday = (local - timedelta(days=1)).weekday()
    return minute < end and DAYS[yesterday] in days
