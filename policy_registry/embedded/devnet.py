"""The local Stacks devnet (``contracts/devnet/server.mjs``) as a child process.

The devnet runs the real contracts in the Clarinet simnet behind the HTTP surface of a Stacks node with Hiro's
API, so the service's one chain client talks to it like to testnet or mainnet. This module starts it on a free
loopback port, waits until ``/v2/info`` answers, and stops it (SIGTERM, then SIGKILL of its process group). The
child dies with its parent (PR_SET_PDEATHSIG, see ``process.py``), so no node process outlives the service.

Sync use::

    with LocalDevnet(block_interval=0) as devnet:
        devnet.mine(blocks=1, burn_blocks=5)

Async use::

    async with LocalDevnet() as devnet:
        await devnet.amine()
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from policy_registry.embedded.process import ManagedProcess
from policy_registry.settings import DevnetSettings

DEFAULT_CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
_READY = re.compile(r"^DEVNET_READY (\{.*\})$", re.MULTILINE)
_TIERS = ("Conservative", "Balanced", "Aggressive")


class DevnetError(RuntimeError):
    """The devnet could not be started or answered a control request with an error."""


@dataclass(frozen=True, slots=True)
class DevnetAccount:
    """A demo account from ``settings/Devnet.toml``. Its key is a public test key, still never shown in reprs."""

    name: str
    address: str
    public_key: str
    private_key: str = field(repr=False)


def _tier_capital_arg(capital: int | Mapping[str, int]) -> str:
    if isinstance(capital, int):
        if capital < 0:
            raise ValueError("tier capital must be >= 0 uSTX")
        return str(capital)
    unknown = set(capital) - set(_TIERS)
    if unknown:
        raise ValueError(f"unknown tiers {sorted(unknown)}; expected {list(_TIERS)}")
    if any(not isinstance(v, int) or v < 0 for v in capital.values()):
        raise ValueError("tier capital must be integers >= 0 uSTX")
    return ",".join(f"{tier}={amount}" for tier, amount in capital.items())


class LocalDevnet:
    """One devnet server. ``url`` and ``accounts`` are available once started.

    Args:
        port: listen port; None picks a free one (the server binds port 0 and reports what it got).
        block_interval: seconds between blocks; 0 mines only on :meth:`mine` (what tests use).
        burn_ratio: burn blocks added per Stacks block the miner produces.
        quote_signer_pubkey: 33-byte compressed key (hex) set as the registry's quote-signer; default: the
            devnet backend account's key.
        tier_capital: demo vault capital in uSTX, one amount for every tier or per tier.
        log_path: where the server's log goes (a temporary file by default).
        contracts_dir, node: the contracts tree and the node binary; default: DEVNET_CONTRACTS_DIR and DEVNET_NODE,
            else the repository's contracts/ and `node` on PATH.
        state_file: the devnet's journal (``--state-file``): the chain recorded there is replayed on start and
            every new transaction and block is appended, so a restart keeps the same chain; None: memory only.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        block_interval: float = 2.0,
        burn_ratio: float = 1.0,
        quote_signer_pubkey: str | None = None,
        tier_capital: int | Mapping[str, int] | None = None,
        backend_account: str | None = None,
        log_path: Path | None = None,
        log_level: str = "info",
        contracts_dir: Path | None = None,
        node: str | None = None,
        startup_timeout: float = 60.0,
        state_file: Path | None = None,
    ) -> None:
        if block_interval < 0 or burn_ratio < 0:
            raise ValueError("block_interval and burn_ratio must be >= 0")
        self.host = host
        self.requested_port = port
        if contracts_dir is None or not node:  # the caller's, else DEVNET_CONTRACTS_DIR / DEVNET_NODE, else defaults
            configured = DevnetSettings()
            contracts_dir = contracts_dir or Path(configured.devnet_contracts_dir or DEFAULT_CONTRACTS_DIR)
            node = node or configured.devnet_node or shutil.which("node") or "node"
        self.contracts_dir = contracts_dir
        self.startup_timeout = startup_timeout
        self._owns_log = log_path is None
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="devnet-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        self.log_path = log_path
        argv = [
            node,
            str(self.contracts_dir / "devnet" / "server.mjs"),
            "--host",
            host,
            "--port",
            str(port if port is not None else 0),
            "--block-interval",
            str(block_interval),
            "--burn-ratio",
            str(burn_ratio),
            "--log-level",
            log_level,
        ]
        if quote_signer_pubkey is not None:
            argv += ["--quote-signer-pubkey", quote_signer_pubkey]
        if tier_capital is not None:
            argv += ["--tier-capital", _tier_capital_arg(tier_capital)]
        if backend_account is not None:
            argv += ["--backend-account", backend_account]
        if state_file is not None:
            argv += ["--state-file", str(state_file)]
        self._process = ManagedProcess("stacks-devnet", argv, log_path=log_path, cwd=self.contracts_dir)
        self._log_offset = 0
        self.url: str | None = None
        self.port: int | None = None
        self.chain_marker: str | None = None
        self.accounts: dict[str, DevnetAccount] = {}
        self.contracts: dict[str, str] = {}
        self.quote_signer_pubkey: str | None = None

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        return f"LocalDevnet({state}, pid={self.pid})"

    # lifecycle -----------------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.running()

    def _check_installed(self) -> None:
        server = self.contracts_dir / "devnet" / "server.mjs"
        if not server.exists():
            raise DevnetError(f"devnet server not found at {server}")
        if not (self.contracts_dir / "node_modules" / "@stacks" / "clarinet-sdk").exists():
            raise DevnetError(f"node dependencies missing: run `npm install` in {self.contracts_dir}")

    def _spawn(self) -> None:
        self._check_installed()
        if self.running:
            raise DevnetError("the devnet is already running")
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._process.start()

    def _ready_line(self) -> dict[str, Any] | None:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return None
        match = _READY.search(text)
        return json.loads(match.group(1)) if match else None

    def _adopt(self, ready: dict[str, Any], listing: dict[str, Any]) -> None:
        self.url = str(ready["url"])
        self.port = int(ready["port"])
        self.chain_marker = str(ready["chain_marker"])
        self.accounts = {
            a["name"]: DevnetAccount(a["name"], a["address"], a["public_key"], a["private_key"])
            for a in listing["accounts"]
        }
        self.contracts = dict(listing["contracts"])
        self.quote_signer_pubkey = listing.get("quote_signer_pubkey")

    def _fail(self, why: str) -> DevnetError:
        tail = self._process.log_tail()
        self._process.stop(grace=5.0)
        return DevnetError(f"{why}:\n{tail}")

    def start(self) -> LocalDevnet:
        """Start and wait (blocking) until ``/v2/info`` answers."""
        self._spawn()
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0) as http:
            while True:
                if not self.running:
                    raise self._fail("the devnet exited during start-up")
                ready = self._ready_line()
                if ready is not None:
                    try:
                        if http.get(f"{ready['url']}/v2/info").status_code == 200:
                            listing = http.get(f"{ready['url']}/devnet/accounts").json()
                            self._adopt(ready, listing)
                            return self
                    except httpx.HTTPError:
                        pass
                if time.monotonic() > deadline:
                    raise self._fail(f"the devnet was not ready within {self.startup_timeout:.0f}s")
                time.sleep(0.1)

    async def astart(self) -> LocalDevnet:
        """Start and wait (without blocking the event loop) until ``/v2/info`` answers.

        The child is spawned from the loop's own thread: PR_SET_PDEATHSIG is tied to the spawning thread."""
        self._spawn()
        deadline = time.monotonic() + self.startup_timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if not self.running:
                    raise self._fail("the devnet exited during start-up")
                ready = self._ready_line()
                if ready is not None:
                    try:
                        if (await http.get(f"{ready['url']}/v2/info")).status_code == 200:
                            listing = (await http.get(f"{ready['url']}/devnet/accounts")).json()
                            self._adopt(ready, listing)
                            return self
                    except httpx.HTTPError:
                        pass
                if time.monotonic() > deadline:
                    raise self._fail(f"the devnet was not ready within {self.startup_timeout:.0f}s")
                await asyncio.sleep(0.1)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL of the process group after ``grace`` seconds. A log file the launcher made
        up itself is removed after a clean stop (a failed start keeps it: its tail is in the error)."""
        self._process.stop(grace=grace)
        if self._owns_log:
            self.log_path.unlink(missing_ok=True)

    async def astop(self, grace: float = 10.0) -> None:
        # Stopping must not outlive a cancelled caller: shield the blocking wait in a thread.
        await asyncio.shield(asyncio.to_thread(self.stop, grace))

    def __enter__(self) -> LocalDevnet:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalDevnet:
        return await self.astart()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.astop()

    # control endpoints (devnet only) ---------------------------------------------------------------------

    def _base(self) -> str:
        if self.url is None or not self.running:
            raise DevnetError("the devnet is not running")
        return self.url

    @staticmethod
    def _mine_body(blocks: int, burn_blocks: int) -> dict[str, int]:
        if blocks < 0 or burn_blocks < 0:
            raise ValueError("blocks and burn_blocks must be >= 0")
        return {"blocks": blocks, "burnBlocks": burn_blocks}

    @staticmethod
    def _mine_result(response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise DevnetError(f"POST /devnet/mine answered {response.status_code}: {response.text[:200]}")
        result: dict[str, Any] = response.json()
        return result

    def mine(self, blocks: int = 1, burn_blocks: int = 0) -> dict[str, Any]:
        """Mine ``burn_blocks`` burn blocks, then ``blocks`` Stacks blocks (every ready mempool transaction is
        mined, one per block, so more blocks may result). Returns ``{mined: [...], chain_tip: {...}}``."""
        with httpx.Client(timeout=30.0) as http:
            return self._mine_result(
                http.post(f"{self._base()}/devnet/mine", json=self._mine_body(blocks, burn_blocks))
            )

    async def amine(self, blocks: int = 1, burn_blocks: int = 0) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30.0) as http:
            response = await http.post(f"{self._base()}/devnet/mine", json=self._mine_body(blocks, burn_blocks))
        return self._mine_result(response)
