"""The one root of Sharp Eyes' own errors, and the kinds every stage raises.

Each stage keeps its own classes, so that ``str(error)`` can say what is wrong in its
words, but every one of them derives from :class:`SharpEyesError` and from one kind
below, so that a caller (the API above all) decides what to do by kind, never by
stage. HTTP status codes are the API's business (``api/errors.py`` maps the kinds);
no domain class carries one. The tree (as in httpx's ``_exceptions.py``)::

    SharpEyesError
    ├── NotFoundError      absent, or outside the caller's scope (the two look the same)
    │     alerts.errors.NotFound, grid.tasks.TaskNotFound, simulators.scenarios.UnknownScenario
    ├── ForbiddenError     the caller's role may not do this
    │     alerts.errors.Forbidden, grid.tasks.ActionNotAllowed, api.security.InvalidToken
    ├── ConflictError      the current state forbids it
    │     alerts.errors.Conflict, grid.tasks.TransitionConflict, simulators.seed.SeedConflictError
    ├── InvalidError       well-formed but wrong input or configuration (also a ValueError)
    │     alerts.errors.Invalid, contracts.topics.TopicError, grid.photos.PhotoRejected,
    │     ingest.adapters (AdapterError, AdapterConfigError), kernel.secret_policy.WeakSecret,
    │     simulators.faults.FaultSpecError, store.rollups.PolicyError, sharpeyes.acl.AclError,
    │     video.errors.CalibrationError
    ├── LimitError         too many attempts or too much at once; retry later
    │     api.ratelimit.TooManyAttempts
    └── UnavailableError   a server, device, model or destination cannot be used now
          kernel.mqtt.PublishError, alerts.webhook.WebhookError, alerts.outbox.Undeliverable,
          store.migrate.MigrationError, video.errors (SourceError, ModelError),
          simulators.render.renderer.RenderError, sharpeyes.runtime.ComponentFailed

A stage's own root (``alerts.errors.AlertsError``, ``grid.tasks.TaskError``,
``video.errors.VideoError``) sits between ``SharpEyesError`` and its classes.
"""

from __future__ import annotations


class SharpEyesError(Exception):
    """Anything Sharp Eyes raises on purpose."""


class NotFoundError(SharpEyesError):
    """Absent, or not visible to the caller (never an oracle for existence)."""


class ForbiddenError(SharpEyesError):
    """The caller may not do this."""


class ConflictError(SharpEyesError):
    """The current state of the thing forbids the change."""


class InvalidError(SharpEyesError, ValueError):
    """Well-formed but wrong input or configuration."""


class LimitError(SharpEyesError):
    """Too many attempts or too much at once; retry later."""


class UnavailableError(SharpEyesError, RuntimeError):
    """A server, device, model or destination cannot be used now."""
