"""Several API worker processes on one listening socket (``SHARPEYES_API_WORKERS`` > 1).

One Python process serves requests on one core (the interpreter lock), which a city
centre with many officers, dashboards and integrators outgrows. ``sharpeyes serve api``
then binds the socket here (so port 0 works and the address is known before any worker
starts) and hands it to uvicorn's supervisor, which spawns the workers, restarts one that
dies and passes SIGINT/SIGTERM on. Each worker builds its own app, pool, publisher and
live-stream hub from the environment; what must be shared already lives in PostgreSQL
(login rate limits, the audit log, the events the stream reads). Request latency is
summed over the workers by prometheus_client's multiprocess mode: each worker writes its
samples to files in ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` reads them all.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import tempfile

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.metrics import MULTIPROC_ENV
from kernel.settings import Settings, load_settings
from sharpeyes.components import api_services
from sharpeyes.runtime import Runtime

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port`` 0: a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # asyncio sets TCP_NODELAY only on sockets it creates; accepted sockets inherit it
    # from here, or every response would wait ~40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def serve_api_workers(settings: Settings) -> None:
    """Serve the API from ``settings.api_workers`` processes until SIGINT/SIGTERM."""
    sock = bind(settings.api_host, settings.api_port)
    host, port = sock.getsockname()[:2]
    own_dir = MULTIPROC_ENV not in os.environ
    if own_dir:  # the workers inherit it: set before any of them imports prometheus_client
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="sharpeyes-metrics-")
    log.info("API listening on http://%s:%s (%d workers)", host, port, settings.api_workers)
    try:
        uvicorn.run("sharpeyes.api_workers:worker_app", factory=True, fd=sock.fileno(),
                    workers=settings.api_workers, log_level="warning", access_log=False,
                    timeout_graceful_shutdown=5)
    finally:
        sock.close()
        if own_dir:
            shutil.rmtree(os.environ.pop(MULTIPROC_ENV), ignore_errors=True)


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn calls this factory in each)."""
    rt = Runtime(load_settings())
    atexit.register(rt.close)
    return create_app(api_services(rt))
