"""Grid-worker bots: simulated workers handling their tasks through the public HTTP API.

This module owns how a simulated worker behaves — how long it takes to react, how
often it rejects a task or never answers — and the loop that acts on it. Bots use
only the API, as the worker app does: log in (OAuth2 password form), poll their
dispatched tasks, then follow a plan decided by (seed, worker, task) alone::

    dispatched ──accept──▶ handling ──arrive──▶ ──report (photo)──▶ ──resolve──▶ follow_up
        ├──reject with a reason──▶ rejected
        └──never responds: the task misses its deadline (and escalates)

A bot arrives without a position (the task API does not say where the site is) and
reports with one small synthetic photo (:func:`site_photo`: blurred shapes on paving,
never a picture of people). HTTP errors are httpx's own: a 404 or 409 means the task
moved on before the step and ends its plan.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cv2
import httpx
import numpy as np

from simulators.scenario import stable_key, unit

log = logging.getLogger(__name__)

REJECT_REASONS = (
    "The place is outside my grid (across the road, in the neighbouring grid).",
    "I am on leave today; please reassign.",
    "Already handled: police officers are on site.",
    "Duplicate of a task I am already handling.",
    "I am handling another incident and cannot reach the site in time.",
)
RESOLVE_NOTE = "Crowd dispersed; the site is safe."
REPORT_NOTE = "On site: guiding people to spread out and keep the exits clear; photo attached."


class DelayKind(StrEnum):
    FIXED = "fixed"
    UNIFORM = "uniform"
    LOGNORMAL = "lognormal"


@dataclass(frozen=True, slots=True)
class Delay:
    """Seconds: ``fixed`` a; ``uniform`` a..b; ``lognormal`` with median a and sigma b."""

    kind: DelayKind
    a: float
    b: float = 0.0

    def sample(self, u1: float, u2: float) -> float:
        if self.kind is DelayKind.FIXED:
            return self.a
        if self.kind is DelayKind.UNIFORM:
            return self.a + (self.b - self.a) * u1
        gauss = math.sqrt(-2.0 * math.log(max(u1, 1e-12))) * math.cos(2.0 * math.pi * u2)
        return self.a * math.exp(self.b * gauss)

    @classmethod
    def parse(cls, text: str) -> Delay:
        """``30`` (fixed), ``10..60`` (uniform) or ``ln:30:0.6`` (lognormal median:sigma)."""
        if text.startswith("ln:"):
            median, sigma = text[3:].split(":")
            return cls(DelayKind.LOGNORMAL, float(median), float(sigma))
        if ".." in text:
            low, high = text.split("..")
            return cls(DelayKind.UNIFORM, float(low), float(high))
        return cls(DelayKind.FIXED, float(text))


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a worker reacts; delays are real seconds before ``time_scale`` divides them."""

    accept_delay: Delay = Delay(DelayKind.LOGNORMAL, 30.0, 0.6)
    arrive_delay: Delay = Delay(DelayKind.UNIFORM, 120.0, 600.0)
    report_delay: Delay = Delay(DelayKind.UNIFORM, 30.0, 180.0)
    resolve_delay: Delay = Delay(DelayKind.UNIFORM, 60.0, 300.0)
    reject_probability: float = 0.1
    ignore_probability: float = 0.05
    poll_interval: float = 5.0
    time_scale: float = 1.0
    reasons: tuple[str, ...] = REJECT_REASONS


@dataclass(frozen=True, slots=True)
class Step:
    action: str  # accept, reject, arrive, report, resolve
    after: float  # seconds after the bot first saw the task
    note: str | None = None


def plan_task(behaviour: Behaviour, seed: int, username: str, task_id: int,
              round_: int = 0) -> tuple[Step, ...]:
    """What ``username`` will do with ``task_id`` (dispatched to it for the ``round_``-th
    time): a pure function of its arguments."""
    key = stable_key(seed, username, task_id, round_)
    b, scale = behaviour, behaviour.time_scale
    choice = unit(key, 0)
    if choice < b.ignore_probability:
        return ()
    first = b.accept_delay.sample(unit(key, 1), unit(key, 2)) / scale
    if choice < b.ignore_probability + b.reject_probability:
        reason = b.reasons[int(unit(key, 3) * len(b.reasons))]
        return (Step("reject", first, reason),)
    steps, at = [Step("accept", first)], first
    for n, (action, delay) in enumerate((("arrive", b.arrive_delay), ("report", b.report_delay),
                                          ("resolve", b.resolve_delay)), start=2):
        at += delay.sample(unit(key, 2 * n), unit(key, 2 * n + 1)) / scale
        steps.append(Step(action, at, {"report": REPORT_NOTE, "resolve": RESOLVE_NOTE}.get(action)))
    return tuple(steps)


def site_photo(key: int, width: int = 320, height: int = 240) -> bytes:
    """A small synthetic JPEG standing in for a worker's site photo, a pure function of
    ``key``: a sky-to-paving gradient with a few blurred shapes and sensor noise."""
    rng = np.random.default_rng(key)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    sky = rng.uniform(170, 230) + rng.uniform(-15, 15, 3)  # greyish, a slight tint
    paving = rng.uniform(80, 140) + rng.uniform(-10, 10, 3)
    image = np.ascontiguousarray(np.broadcast_to(
        (sky * (1 - rows) + paving * rows).astype(np.float32), (height, width, 3)))
    for _ in range(int(rng.integers(4, 9))):
        centre = (int(rng.integers(0, width)), int(rng.integers(height // 3, height)))
        axes = (int(rng.integers(8, 40)), int(rng.integers(15, 60)))
        colour = tuple(float(c) for c in rng.uniform(20, 235, 3))
        cv2.ellipse(image, centre, axes, 0.0, 0.0, 360.0, colour, -1)
    noisy = cv2.GaussianBlur(image, (0, 0), 6.0) + rng.normal(0.0, 4.0, image.shape)
    ok, encoded = cv2.imencode(".jpg", np.clip(noisy, 0, 255).astype(np.uint8),
                               [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("OpenCV could not encode the synthetic photo")
    return encoded.tobytes()


class WorkerApi:
    """The public API as one worker uses it (its own bearer token). ``seed`` picks the
    synthetic photos it reports with."""

    def __init__(self, http: httpx.Client, username: str, password: str, seed: int = 7) -> None:
        self.http, self.username, self._password, self.seed = http, username, password, seed
        self.person_id: str | None = None
        self._headers: dict[str, str] = {}

    def login(self) -> None:
        response = self.http.post("/api/v1/auth/token",
                                  data={"username": self.username, "password": self._password})
        response.raise_for_status()
        body = response.json()
        self._headers = {"Authorization": f"Bearer {body['access_token']}"}
        self.person_id = body["person_id"]

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, url, headers=self._headers, **kwargs)
        if response.status_code == 401:  # token expired: log in again, once
            self.login()
            response = self.http.request(method, url, headers=self._headers, **kwargs)
        response.raise_for_status()
        return response

    def dispatched(self) -> list[int]:
        """Ids of the tasks dispatched to this worker and not yet answered."""
        params = {"state": "dispatched", "assignee": self.person_id or "", "limit": 500}
        return [t["id"] for t in self._request("GET", "/api/v1/tasks", params=params)
                .json()["items"]]

    def act(self, task_id: int, action: str, note: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = self._request("POST", f"/api/v1/tasks/{task_id}/{action}",
                                             json={"note": note}).json()
        return body

    def arrive(self, task_id: int, position: tuple[float, float] | None = None) -> None:
        """Record arriving on site, at ``position`` (lon, lat) when given."""
        body = {} if position is None else {"lon": position[0], "lat": position[1]}
        self._request("POST", f"/api/v1/tasks/{task_id}/arrive", json=body)

    def report(self, task_id: int, note: str | None, photo: bytes) -> None:
        """Report progress with one JPEG photo (the ``report`` action)."""
        self._request("POST", f"/api/v1/tasks/{task_id}/photos",
                      files=[("photos", (f"task-{task_id}.jpg", photo, "image/jpeg"))],
                      data={} if note is None else {"note": note})

    def perform(self, task_id: int, step: Step) -> None:
        if step.action == "arrive":
            self.arrive(task_id)
        elif step.action == "report":
            self.report(task_id, step.note,
                        site_photo(stable_key(self.seed, self.username, task_id, "photo")))
        else:
            self.act(task_id, step.action, step.note)


@dataclass(slots=True)
class BotCounters:
    seen: int = 0
    ignored: int = 0
    accepted: int = 0
    rejected: int = 0
    arrived: int = 0
    reported: int = 0
    resolved: int = 0
    conflicts: int = 0  # the task moved on (cancelled, merged, reassigned) before the step
    errors: int = 0


_COUNTED = {"accept": "accepted", "reject": "rejected", "arrive": "arrived",
            "report": "reported", "resolve": "resolved"}


class WorkerBot:
    """One worker: polls its dispatched tasks and carries out each task's plan."""

    def __init__(self, api: WorkerApi, behaviour: Behaviour, seed: int) -> None:
        self.api, self.behaviour, self.seed = api, behaviour, seed
        self.counters = BotCounters()
        self._seen: set[int] = set()
        self._rounds: dict[int, int] = {}
        self._due: list[tuple[float, int, int, tuple[Step, ...]]] = []

    def poll(self, now: float) -> None:
        for task_id in self.api.dispatched():
            if task_id in self._seen:
                continue
            self._seen.add(task_id)
            self.counters.seen += 1
            steps = plan_task(self.behaviour, self.seed, self.api.username, task_id,
                              self._rounds.get(task_id, 0))
            if not steps:
                self.counters.ignored += 1
                log.info("%s ignores task %d", self.api.username, task_id)
                continue
            heapq.heappush(self._due, (now + steps[0].after, task_id, 0, steps))

    def next_due(self) -> float:
        return self._due[0][0] if self._due else math.inf

    def act_due(self, now: float) -> None:
        while self._due and self._due[0][0] <= now:
            _, task_id, index, steps = heapq.heappop(self._due)
            if self._perform(task_id, steps[index]) and index + 1 < len(steps):
                start = now - steps[index].after
                heapq.heappush(self._due, (start + steps[index + 1].after, task_id, index + 1,
                                           steps))

    def _perform(self, task_id: int, step: Step) -> bool:
        """Carry out one step; False when the task's plan should stop."""
        try:
            self.api.perform(task_id, step)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code in (404, 409):
                self.counters.conflicts += 1
            else:
                self.counters.errors += 1
            log.info("%s could not %s task %d: %s", self.api.username, step.action, task_id,
                     exc.response.text)
            return False
        if step.action == "reject":  # if it is dispatched to us again, that is a new round
            self._seen.discard(task_id)
            self._rounds[task_id] = self._rounds.get(task_id, 0) + 1
        counted = _COUNTED.get(step.action)
        if counted:
            setattr(self.counters, counted, getattr(self.counters, counted) + 1)
        log.info("%s: %s task %d", self.api.username, step.action, task_id)
        return True


@dataclass(slots=True)
class BotSwarm:
    """Many worker bots run by one thread against one API."""

    base_url: str
    logins: Sequence[tuple[str, str]]
    behaviour: Behaviour = field(default_factory=Behaviour)
    seed: int = 7
    clock: Callable[[], float] = time.monotonic
    bots: list[WorkerBot] = field(default_factory=list)

    def counters(self) -> BotCounters:
        total = BotCounters()
        for bot in self.bots:
            for name in BotCounters.__slots__:
                setattr(total, name, getattr(total, name) + getattr(bot.counters, name))
        return total

    def run(self, stop: threading.Event, duration: float | None = None) -> BotCounters:
        """Log every bot in, then poll and act until ``stop`` or ``duration`` seconds."""
        with httpx.Client(base_url=self.base_url, timeout=10.0) as http:
            self.bots = [WorkerBot(WorkerApi(http, user, pw, self.seed), self.behaviour, self.seed)
                         for user, pw in self.logins]
            for bot in self.bots:
                bot.api.login()
            self._loop(stop, duration)
        return self.counters()

    def _loop(self, stop: threading.Event, duration: float | None) -> None:
        start = self.clock()
        period = self.behaviour.poll_interval
        polls = [start + period * n / max(1, len(self.bots)) for n in range(len(self.bots))]
        while not stop.is_set() and (duration is None or self.clock() - start < duration):
            now = self.clock()
            failures: list[httpx.HTTPError] = []
            for n, bot in enumerate(self.bots):
                if now >= polls[n]:
                    self._guarded(bot.poll, now, failures)
                    polls[n] = now + period
                self._guarded(bot.act_due, now, failures)
            if failures:  # the API is down or slow: every bot tries again next turn
                log.warning("%d API requests failed (%s)", len(failures), failures[0])
            wake = min([*polls, *(b.next_due() for b in self.bots)], default=now + period)
            stop.wait(min(max(0.0, wake - self.clock()), period))

    @staticmethod
    def _guarded(fn: Callable[[float], None], now: float,
                 failures: list[httpx.HTTPError]) -> None:
        try:
            fn(now)
        except httpx.HTTPError as exc:
            failures.append(exc)
