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
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(create_app(services), log_level="warning", access_log=False,
                                lifespan="off")
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
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self.sock.close()
