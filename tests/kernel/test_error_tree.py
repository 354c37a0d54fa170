"""Every error Sharp Eyes raises on purpose has one root and one kind (kernel/errors.py).

Walks every module of every package, so a new free-standing exception class fails here
rather than reaching the API as a 500.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from fastapi.testclient import TestClient

from kernel.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    LimitError,
    NotFoundError,
    SharpEyesError,
    UnavailableError,
)

PACKAGES = ("kernel", "contracts", "store", "grid", "ingest", "alerts", "api", "video",
            "simulators", "sharpeyes")
KINDS = (NotFoundError, ForbiddenError, ConflictError, InvalidError, LimitError,
         UnavailableError)
# A stage's own root sits between SharpEyesError and its classes and has no kind.
STAGE_ROOTS = {"alerts.errors.AlertsError", "grid.tasks.TaskError", "video.errors.VideoError"}
# Private control flow inside one function, never raised out of its module.
PRIVATE = {"ingest.decode._Reject"}


def _own_exceptions() -> list[type[BaseException]]:
    found = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        modules = [package] + [importlib.import_module(m.name) for m in
                               pkgutil.walk_packages(package.__path__, f"{name}.")]
        for module in modules:
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if (issubclass(cls, BaseException) and cls.__module__ == module.__name__
                        and not cls.__module__.startswith("kernel.errors")):
                    found.append(cls)
    return found


def test_every_error_has_the_root_and_one_kind() -> None:
    classes = _own_exceptions()
    assert len(classes) >= 25  # the walk found the packages' errors at all
    for cls in classes:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name in PRIVATE:
            continue
        assert issubclass(cls, SharpEyesError), f"{name} does not derive from SharpEyesError"
        kinds = [k for k in KINDS if issubclass(cls, k)]
        if name in STAGE_ROOTS:
            assert kinds == [], name
        else:
            assert len(kinds) == 1, f"{name} has kinds {kinds}"
        assert not hasattr(cls, "status") or name == "grid.photos.PhotoRejected", (
            f"{name} carries an HTTP status: the API maps kinds")


@pytest.mark.parametrize(("kind", "status"), [
    (NotFoundError, 404), (ForbiddenError, 403), (ConflictError, 409), (InvalidError, 422),
    (LimitError, 429), (UnavailableError, 503)])
def test_the_api_answers_each_kind_with_its_problem(kind: type[SharpEyesError],
                                                   status: int) -> None:
    from fastapi import FastAPI

    from api.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise kind("what went wrong")

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "what went wrong"
