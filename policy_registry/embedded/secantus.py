"""The embedded MongoDB-compatible server (SecantusDB), run as its own process and spoken to over its socket.

SecantusDB is GPL-2.0, so the service never imports it: it only starts its console entry point and connects with
PyMongo like to any MongoDB replica set.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from policy_registry.embedded.process import ManagedProcess, free_port

MEMORY = ":memory:"


def _launcher_argv() -> list[str]:
    exe = shutil.which("secantusd-py") or str(Path(sys.executable).with_name("secantusd-py"))
    if not Path(exe).exists():
        raise RuntimeError(
            "SecantusDB is not installed: install the 'embedded' extra (pip install -e '.[embedded]') "
            "or set MONGODB_URI to a MongoDB replica set"
        )
    return [exe]


def answers(uri: str) -> bool:
    """Whether a MongoDB-protocol server at `uri` answers a ping right now."""
    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


class EmbeddedMongo:
    """A SecantusDB server on a free loopback port; a context manager that stops it on exit."""

    def __init__(
        self, storage_path: Path | str, log_path: Path, port: int | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.storage_path = str(storage_path)
        if self.storage_path != MEMORY:
            Path(self.storage_path).mkdir(parents=True, exist_ok=True)
        self._process = ManagedProcess(
            "secantusdb",
            [
                *_launcher_argv(),
                "--host",
                host,
                "--port",
                str(self.port),
                "--storage-path",
                self.storage_path,
                "--log-level",
                "WARNING",
            ],
            log_path=log_path,
        )

    @property
    def uri(self) -> str:
        # directConnection: the server advertises a one-node replica set named after itself; talk to it directly.
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    @property
    def process(self) -> ManagedProcess:
        return self._process

    def _answers(self) -> bool:
        return answers(self.uri)

    def start(self, timeout: float = 60.0) -> EmbeddedMongo:
        self._process.start()
        self._process.wait_ready(self._answers, timeout=timeout, interval=0.2)
        return self

    def stop(self) -> None:
        self._process.stop()

    def __enter__(self) -> EmbeddedMongo:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
