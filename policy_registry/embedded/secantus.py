"""The embedded MongoDB-compatible server (SecantusDB), run as its own process and spoken to over its socket.

SecantusDB is GPL-2.0, so the service never imports it: it only starts its console entry point and connects with
PyMongo like to any MongoDB replica set.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from policy_registry.embedded.process import ManagedProcess, free_port
from policy_registry.settings import DatabaseSettings

MEMORY = ":memory:"


@dataclass(frozen=True)
class Durability:
    """How the server keeps what it acknowledged, and how long a change-stream resume token stays usable.

    - ``sync_on_commit``: fsync the WiredTiger log before a commit is acknowledged. Without it a SIGKILL of the
      server lost 6-40 of ~3,800 acknowledged single-insert transactions (docs/faults.md "Durability").
    - ``oplog_retention_s`` / ``oplog_max_entries``: a saved resume token works while its oplog entry is kept;
      whichever bound is hit first prunes. 48 h and 1,000,000 entries keep a token through 24 h of API downtime
      with a worker still writing (an idle worker adds ~5 entries/s: 6 per listener poll, 1 per lease renewal;
      docs/operations.md), i.e. ~2 days of it.
    - ``noop_heartbeat_s``: a no-op oplog entry this often, so an idle stream's post-batch token (the one the
      feed saves) is never older than this when the API stops.
    """

    sync_on_commit: bool = True
    oplog_retention_s: int = 48 * 3600
    oplog_max_entries: int = 1_000_000
    noop_heartbeat_s: float = 10.0

    def argv(self) -> list[str]:
        flags = [
            "--oplog-retention-seconds",
            str(self.oplog_retention_s),
            "--oplog-max-entries",
            str(self.oplog_max_entries),
            "--noop-heartbeat-seconds",
            str(self.noop_heartbeat_s),
        ]
        return [*flags, "--sync-on-commit"] if self.sync_on_commit else flags

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> Durability:
        return cls(
            sync_on_commit=settings.embedded_db_sync_on_commit,
            oplog_retention_s=settings.embedded_db_oplog_retention_s,
            oplog_max_entries=settings.embedded_db_oplog_max_entries,
            noop_heartbeat_s=settings.embedded_db_noop_heartbeat_s,
        )


DURABLE = Durability()


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
        self,
        storage_path: Path | str,
        log_path: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        durability: Durability = DURABLE,
    ) -> None:
        self.host = host
        self.durability = durability
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
                *durability.argv(),
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
