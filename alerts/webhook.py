"""Signed webhook requests: HMAC-SHA256 over a timestamp and the exact body.

Headers sent with every POST (``Content-Type: application/json``)::

    X-SharpEyes-Timestamp: 1795305600
    X-SharpEyes-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
    X-SharpEyes-Event: firing | repeat | resolved | acknowledged
    X-SharpEyes-Event-Id: 42        (the same id on every retry: deduplicate on it)
    X-SharpEyes-Delivery: 7

A receiver recomputes the HMAC over the raw body bytes, compares in constant time, and
refuses timestamps more than a few minutes old (replays). :func:`verify` does that.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from kernel import __version__
from kernel.errors import UnavailableError

SIGNATURE_HEADER = "X-SharpEyes-Signature"
TIMESTAMP_HEADER = "X-SharpEyes-Timestamp"


class WebhookError(UnavailableError):
    """The receiver did not accept the delivery; ``str`` says why."""


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    url: str
    body: bytes
    headers: dict[str, str]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, timestamp: str, signed: str, *,
           tolerance: float = 300, now: float | None = None) -> bool:
    """Whether ``signed`` is a valid signature of ``body`` made within ``tolerance`` s."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - stamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, stamp, body), signed)


def build(url: str, secret: str, body: bytes, *, event: str, event_id: int, delivery_id: int,
          now: float | None = None) -> WebhookRequest:
    stamp = int(now if now is not None else time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"sharpeyes/{__version__}",
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: signature(secret, stamp, body),
        "X-SharpEyes-Event": event,
        "X-SharpEyes-Event-Id": str(event_id),
        "X-SharpEyes-Delivery": str(delivery_id),
    }
    return WebhookRequest(url, body, headers)


def post(request: WebhookRequest, timeout: float = 5.0) -> int:
    """POST; return the status of a 2xx answer, raise :class:`WebhookError` otherwise."""
    http = urllib.request.Request(request.url, data=request.body, headers=request.headers,
                                  method="POST")
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise WebhookError(f"unreachable: {exc}") from exc
    if not 200 <= status < 300:
        raise WebhookError(f"HTTP {status}")
    return status
