"""Fixtures for alert tests (helpers are in :mod:`tests.alerts.support`)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.alerts.support import city_with_places


@pytest.fixture
def city(db: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The tiny city with places, a second camera and a sensor at place PL-A."""
    city_with_places(db)
    yield db
