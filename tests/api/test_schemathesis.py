"""Schemathesis against the OpenAPI document, in-process (ASGI), authenticated as admin:
whatever the generated input, no operation answers with a server error.

The number of examples per operation is bounded (``EXAMPLES``) to keep the run short;
raise it locally with ``SHARPEYES_SCHEMATHESIS_EXAMPLES`` for a deeper search.
``GET /api/v1/stream`` never ends by design and is covered by tests/api/test_platform.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from api.app import create_app
from api.services import Services
from sharpeyes.settings import load_settings
from store.db import create_pool
from tests.api.test_authz_matrix import seed
from tests.helpers import PASSWORD

EXAMPLES = int(os.environ.get("SHARPEYES_SCHEMATHESIS_EXAMPLES", "12"))


@pytest.fixture
def app(db_url: str, db: psycopg.Connection) -> Iterator[FastAPI]:
    seed(db)
    pool = create_pool(db_url, max_size=4)
    settings = load_settings(database_url=db_url, mqtt_url="mqtt://127.0.0.1:1")
    services = Services(settings=settings, pool=pool, jwt_secret="s" * 32)
    try:
        yield create_app(services)
    finally:
        pool.close()


@pytest.fixture
def admin_headers(app: FastAPI) -> dict[str, str]:
    with TestClient(app) as client:
        token = client.post("/api/v1/auth/token",
                            data={"username": "admin", "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _fuzz(operation: Any, headers: dict[str, str]) -> str | None:
    """Run the bounded search on one operation; what went wrong, or None."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def search(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    try:
        search()
    except Exception as exc:  # a failing check, reported with the operation it came from
        return f"{operation.method.upper()} {operation.path}: {exc}"
    return None


def test_no_operation_answers_with_a_server_error(
    app: FastAPI, admin_headers: dict[str, str]
) -> None:
    # Driving Hypothesis directly (not schemathesis' pytest plugin) keeps each operation's
    # search independent and works with this pytest's node API.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(
        path="/api/v1/stream")
    operations = [result.ok() for result in schema.get_all_operations()
                  if isinstance(result, Ok)]
    assert len(operations) > 50
    failures = [f for f in (_fuzz(op, admin_headers) for op in operations) if f]
    assert failures == [], "\n\n".join(failures)
