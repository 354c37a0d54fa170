"""Shared parameter types: ids the store can hold, timestamps that are timestamps.

Validation refuses what the database would (an id beyond ``bigint``) or would guess at (a
number for a time), so such input answers a precise 422 instead of reaching SQL.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

INT64_MAX = 2**63 - 1

# A row id: positive and within PostgreSQL's bigint.
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]

# Text PostgreSQL can hold: anything but the NUL character.
NO_NUL = r"^[^\x00]*$"

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _iso_only(value: Any) -> Any:
    """Refuse numbers (``0.5``, ``1700000000``) where an RFC 3339 date-time is expected."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected an RFC 3339 date-time such as 2026-01-31T08:00:00Z")
    return value


# A point in time, written as an RFC 3339 date-time; numbers are refused, not read as epochs.
Timestamp = Annotated[datetime, BeforeValidator(_iso_only)]
