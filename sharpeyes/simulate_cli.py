"""``sharpeyes simulate``: play a named scenario with a device fleet, or run worker bots.

    sharpeyes simulate [--scenario NAME] [--speed 60] [--seed N] [--duration S]
                       [--devices N] [--period S] [--threads N] [--fault SPEC]... [--drill]
                       [--serve | --no-serve]
    sharpeyes simulate bots --api URL [--workers N] [--reject P] [--ignore P] ...

The fleet runs against ``SHARPEYES_MQTT_URL`` with the devices registered in
``SHARPEYES_DATABASE_URL``. Where those are unset it starts the embedded defaults,
seeds the sample city and — since nothing else could read that broker — also runs
ingest, alerts, dispatcher and the API in this process (``--no-serve`` turns that off).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TextIO

import psycopg

from kernel.settings import Settings
from sharpeyes.components import start
from sharpeyes.runtime import Runtime
from simulators.bots import Behaviour, BotSwarm, Delay
from simulators.camera import CameraDevice, load_cameras
from simulators.faults import Fault, FaultSpecError, fault_drill, parse_fault
from simulators.fleet import (
    Fleet,
    FleetOptions,
    SensorDevice,
    SensorSpec,
    SimClock,
    SimDevice,
    load_sensors,
    resize,
)
from simulators.scenarios import Timeline, build_timeline, clock_text, scenario_names
from simulators.specs import CameraSpec

# Modules with a ``register(simulate_subparsers)`` adding ``simulate`` subcommands of their own
# (as ``STAGE_COMMANDS`` does for ``sharpeyes``), e.g. the renderer's ``render-sample``.
SIMULATE_COMMANDS: tuple[str, ...] = ("simulators.render.cli",)


def register(subparsers: Any) -> Any:
    """Add ``simulate`` (and ``simulate bots``); return its subcommand action for more."""
    sim = subparsers.add_parser("simulate", help="play a scenario with simulated devices")
    sim.add_argument("--scenario", default="ordinary_day", choices=scenario_names())
    sim.add_argument("--speed", type=float, default=60.0,
                     help="simulated seconds per real second (default 60)")
    sim.add_argument("--seed", type=int, default=7, help="same seed, same run")
    sim.add_argument("--duration", type=float, default=None,
                     help="stop after S real seconds (default: when the scenario ends)")
    sim.add_argument("--devices", type=int, default=None,
                     help="sample, or replicate, the registered devices up to N")
    sim.add_argument("--period", type=float, default=2.0,
                     help="real seconds between two reports of one device")
    sim.add_argument("--threads", type=int, default=2, help="fleet threads")
    sim.add_argument("--fault", type=_fault, action="append", default=None, metavar="SPEC",
                     help="kind=K,device=D[+D2],at=HH:MM,for=10m[,value=V][,metric=M]")
    sim.add_argument("--drill", action="store_true",
                     help="add every fault kind once, from the scenario's start")
    sim.add_argument("--serve", action=argparse.BooleanOptionalAction, default=None,
                     help="also run ingest, alerts, dispatcher and API here "
                          "(default: only on the embedded defaults)")
    sim.add_argument("--progress", type=float, default=5.0,
                     help="real seconds between progress lines")
    sim.set_defaults(handler=run_simulate)
    sub = sim.add_subparsers(dest="simulate_command", metavar="COMMAND")
    _register_bots(sub)
    for module in SIMULATE_COMMANDS:
        importlib.import_module(module).register(sub)
    return sub


def _fault(text: str) -> Fault:
    try:
        return parse_fault(text)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _register_bots(sub: Any) -> None:
    bots = sub.add_parser("bots", help="grid-worker bots acting through the API")
    bots.add_argument("--api", required=True, help="base URL of the API")
    bots.add_argument("--workers", type=int, default=10,
                      help="how many of the sample city's on-duty workers")
    bots.add_argument("--usernames", default=None, help="comma-separated logins instead")
    bots.add_argument("--password", default="demo")
    bots.add_argument("--seed", type=int, default=7)
    bots.add_argument("--reject", type=float, default=0.1, help="probability of rejecting")
    bots.add_argument("--ignore", type=float, default=0.05,
                      help="probability of never responding (the task misses its deadline)")
    for step, default in (("accept", "ln:30:0.6"), ("arrive", "120..600"),
                          ("report", "30..180"), ("resolve", "60..300")):
        bots.add_argument(f"--{step}-delay", type=Delay.parse, default=default,
                          help=f"seconds: 30, 10..60 or ln:MEDIAN:SIGMA (default {default})")
    bots.add_argument("--poll", type=float, default=5.0, help="seconds between task polls")
    bots.add_argument("--speed", type=float, default=1.0, help="divide every delay by this")
    bots.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    bots.add_argument("--city-seed", type=int, default=7, help="seed of the sample city")
    bots.add_argument("--scale", type=int, default=1, help="scale of the sample city")
    bots.add_argument("--progress", type=float, default=10.0)
    bots.set_defaults(handler=run_bots)


# --------------------------------------------------------------------------- simulate


def build_devices(timeline: Timeline, cameras: Sequence[CameraSpec],
                  sensors: Sequence[SensorSpec], seed: int,
                  count: int | None = None) -> list[SimDevice]:
    """The timeline's devices: every camera and sensor, or ``count`` in the same mix."""
    if count is not None:
        total = max(1, len(cameras) + len(sensors))
        n_cameras = count if not sensors else round(count * len(cameras) / total)
        cameras, sensors = resize(cameras, n_cameras, seed), resize(sensors, count - n_cameras,
                                                                    seed)
    devices: list[SimDevice] = [CameraDevice(c, timeline.world, timeline.faults, seed)
                                for c in cameras]
    devices += [SensorDevice(s, timeline.world, timeline.faults, seed) for s in sensors]
    return devices


def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    if args.speed <= 0 or args.period <= 0:
        sys.stderr.write("--speed and --period must be positive\n")
        return 2
    rt = Runtime(settings)
    rt.install_signal_handlers()
    try:
        return _simulate(rt, args, sys.stdout)
    finally:
        rt.close()


def _open(rt: Runtime, out: TextIO) -> tuple[list[CameraSpec], list[SensorSpec]]:
    """Store and broker (embedded where unset: migrated and seeded); the registered devices."""
    embedded_store = not rt.settings.database_url
    rt.open_store()
    rt.open_broker()
    if embedded_store:
        from simulators.city import demo_city
        from simulators.seed import seed_city

        rt.migrate()
        with psycopg.connect(rt.database_url) as conn:
            seed_city(conn, demo_city())
        out.write("[simulate] embedded store with the sample city\n")
    with psycopg.connect(rt.database_url) as conn:
        cameras = load_cameras(conn)
        return cameras, load_sensors(conn, cameras)


def _simulate(rt: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    embedded = not (rt.settings.database_url and rt.settings.mqtt_url)
    cameras, sensors = _open(rt, out)
    if not cameras:
        sys.stderr.write("no cameras are registered: run `sharpeyes db seed` first\n")
        return 2
    if args.serve or (args.serve is None and embedded):
        api = start(rt, ("ingest", "alerts", "dispatcher", "api"))
        out.write(f"[simulate] ingest, alerts and dispatcher running; API at "
                  f"{api.url if api else '-'}\n")
    timeline = _timeline(args, cameras, sensors)
    devices = build_devices(timeline, cameras, sensors, args.seed, args.devices)
    clock = SimClock(datetime.now(UTC), timeline.starts_at, args.speed)
    options = FleetOptions(period=args.period, threads=args.threads, seed=args.seed)
    if (secret := rt.device_secret()) is not None:   # embedded: each device its own account
        options = replace(options, secret=secret)
    fleet = Fleet(devices, rt.device_address(), rt.settings.topic_prefix, clock, options,
                  outages=timeline.faults)
    duration = args.duration if args.duration is not None else timeline.duration / args.speed
    out.write(f"[simulate] {timeline.name}: {timeline.description}; {len(devices)} devices, "
              f"{clock_text(timeline.starts_at)}–{clock_text(timeline.ends_at)} at "
              f"{args.speed:g}x ({duration:.0f} s)\n")
    out.flush()

    def play(stop: threading.Event) -> None:
        fleet.run(stop, duration)
        stop.set()

    rt.spawn("fleet", play)
    rt.spawn("progress", lambda stop: _progress(fleet, timeline, out, stop, args.progress))
    rt.wait()
    out.write(f"[simulate] done: {_counts(fleet)}\n")
    return 0


def _timeline(args: argparse.Namespace, cameras: Sequence[CameraSpec],
              sensors: Sequence[SensorSpec]) -> Timeline:
    sensor_ids = [s.device_id for s in sensors]
    timeline = build_timeline(args.scenario, cameras, args.seed, sensor_ids)
    extra = list(args.fault or [])
    if args.drill:
        extra += fault_drill([c.device_id for c in cameras], sensor_ids,
                             timeline.starts_at + 300, args.seed)
    return timeline.with_faults(extra) if extra else timeline


def _counts(fleet: Fleet) -> str:
    c = fleet.counters()
    return (f"{c.connected}/{fleet.size} connected, published {c.published}, acked {c.acked}, "
            f"unsent {c.unsent}, skipped {c.skipped}, reconnects {max(0, c.connects - fleet.size)}")


def _progress(fleet: Fleet, timeline: Timeline, out: TextIO, stop: threading.Event,
              every: float) -> None:
    last_published, last_time = 0, fleet.elapsed()
    while not stop.wait(every):
        now, sim_t = fleet.elapsed(), fleet.sim_now()
        published = fleet.counters().published
        rate = (published - last_published) / max(1e-9, now - last_time)
        last_published, last_time = published, now
        line = f"[simulate] {clock_text(sim_t)} {_counts(fleet)} ({rate:.0f}/s)"
        faults = timeline.faults.at(sim_t)
        if faults:
            line += " | faults: " + ", ".join(
                f"{f.kind}{'@' + '+'.join(f.devices) if f.devices else ''}" for f in faults)
        if timeline.focus:
            zone = timeline.focus[0]
            line += f" | {zone} {timeline.world.density(zone, sim_t):.1f}/m²"
        out.write(line + "\n")
        out.flush()


# --------------------------------------------------------------------------- bots


def sample_workers(count: int, seed: int = 7, scale: int = 1) -> list[str]:
    """Usernames of the sample city's first ``count`` always-on-duty workers."""
    from simulators.city import build_city

    city = build_city(seed, scale)
    names = {p.id: p.username for p in city.people}
    firsts: dict[str, str] = {}  # grid -> its first worker, who is always on duty
    for m in city.grid_members:
        if m.duty == "worker":
            firsts.setdefault(m.grid_code, names[m.person_id])
    return list(dict.fromkeys(firsts.values()))[:count]


def run_bots(args: argparse.Namespace, settings: Settings) -> int:
    usernames = (args.usernames.split(",") if args.usernames
                 else sample_workers(args.workers, args.city_seed, args.scale))
    behaviour = Behaviour(args.accept_delay, args.arrive_delay, args.report_delay,
                          args.resolve_delay, args.reject, args.ignore, args.poll, args.speed)
    swarm = BotSwarm(args.api, [(u, args.password) for u in usernames], behaviour, args.seed)
    rt = Runtime(settings)
    rt.install_signal_handlers()

    def play(stop: threading.Event) -> None:
        swarm.run(stop, args.duration)
        stop.set()

    sys.stdout.write(f"[bots] {len(usernames)} workers against {args.api}\n")
    try:
        rt.spawn("bots", play)
        rt.spawn("progress", lambda stop: _bot_progress(swarm, stop, args.progress))
        rt.wait()
    finally:
        rt.close()
    sys.stdout.write(f"[bots] done: {swarm.counters()}\n")
    return 0


def _bot_progress(swarm: BotSwarm, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        sys.stdout.write(f"[bots] {swarm.counters()}\n")
        sys.stdout.flush()
