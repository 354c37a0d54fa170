"""The embedded amqtt broker (0.12) with per-account credentials, client-id binding and a
topic ACL: ``python -m sharpeyes.amqtt_broker -c amqtt.yaml``.

amqtt loads plugins by class path, so the rules are ours (:class:`sharpeyes.acl.EmbeddedPolicy`):
:class:`AccountAuth` admits a client only with its account's password and a client id
that account may use; :class:`ContractAcl` lets each account publish and subscribe to
its own topics only (anything off the contract is refused, as Mosquitto's ACL does).

amqtt 0.12 settles a CONNECT's session before it authenticates: a clean-session CONNECT
deletes the stored session of its client id, and a second connection takes over the
first, whether or not the newcomer's credentials are then refused. So an anonymous
client naming ``sharpeyes-ingest-1`` would wipe ingest's queued messages. This runner
therefore checks the credentials right after reading CONNECT, before amqtt looks up any
session, and refuses (CONNACK 5, not authorised) there.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import MQTTError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session
from amqtt.utils import read_yaml_config

from sharpeyes.acl import Access, EmbeddedPolicy

_ACCESS = {Action.PUBLISH: Access.WRITE, Action.SUBSCRIBE: Access.READ,
           Action.RECEIVE: Access.READ}


def _policy(secret_file: str, prefix: str) -> EmbeddedPolicy:
    return EmbeddedPolicy(Path(secret_file).read_text().strip().encode(), prefix)


class AccountAuth(BaseAuthPlugin):  # type: ignore[misc]
    """Credentials and client id (see :func:`sharpeyes.acl.client_id_allowed`)."""

    @dataclass
    class Config:
        secret_file: str = ""
        prefix: str = "sharpeyes"

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.policy = _policy(self.config.secret_file, self.config.prefix)

    async def authenticate(self, *, session: Session) -> bool | None:
        return self.policy.admits(session.username, session.password, session.client_id or "")


class ContractAcl(BaseTopicPlugin):  # type: ignore[misc]
    """Publish and subscribe per account; a topic no rule covers is refused."""

    @dataclass
    class Config:
        secret_file: str = ""
        prefix: str = "sharpeyes"

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.policy = _policy(self.config.secret_file, self.config.prefix)

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool | None:
        if session is None or topic is None or action is None:
            return False
        return self.policy.may(session.username, _ACCESS[action], topic)


_read_connect = BrokerProtocolHandler.init_from_connect


async def _authenticated_connect(reader: Any, writer: Any, plugins_manager: Any,
                                 loop: Any = None) -> tuple[BrokerProtocolHandler, Session]:
    """CONNECT as amqtt reads it, refused before any session is touched unless every
    authentication plugin admits it."""
    handler, session = await _read_connect(reader, writer, plugins_manager, loop)
    results = await plugins_manager.map_plugin_auth(session=session)
    verdicts = [r for r in (results or {}).values() if r is not None]
    if not verdicts or not all(verdicts):
        await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
        await writer.close()
        raise MQTTError(f"client {session.client_id!r} not authorised")
    return handler, session


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", type=Path, required=True)
    args = parser.parse_args(argv)
    BrokerProtocolHandler.init_from_connect = _authenticated_connect
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    broker = Broker(read_yaml_config(args.config), loop=loop)
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)

    async def serve() -> None:
        await broker.start()
        await stopping.wait()
        await broker.shutdown()

    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()


if __name__ == "__main__":
    main()
