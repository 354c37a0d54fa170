"""Serving the API with uvicorn on a socket bound before start (so port 0 works)."""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn

from api.app import create_app
from api.services import Services

log = logging.getLogger(__name__)


class ApiServer:
    """uvicorn in a background thread; :attr:`url` is known as soon as it is constructed."""

    def __init__(self, services: Services, host: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # asyncio sets TCP_NODELAY only on sockets it creates; on this one every response
        # (headers and body are separate writes) would wait ~40 ms for a delayed ACK.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        self.app = create_app(services)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self) -> None:
        self._thread.start()

    def wait_started(self, timeout: float = 20.0) -> bool:
        self._thread.join(0)
        deadline = threading.Event()
        for _ in range(int(timeout / 0.05)):
            if self.server.started:
                return True
            deadline.wait(0.05)
        return False

    def stop(self) -> None:
        # Live streams never end by themselves: end them, or uvicorn waits for them.
        self.app.state.stream_hub.close()
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self.sock.close()
