"""The embedded default: whatever the settings leave unset runs locally as child processes.

- no MONGODB_URI → SecantusDB on a free loopback port, data in EMBEDDED_DB_PATH;
- no STACKS_API_URL → the local devnet (contracts/devnet) on a free loopback port, with the registry's quote
  signer and backend principal set to the keys this process uses (the devnet's backend account unless
  BACKEND_KEY / QUOTE_KEY say otherwise) and the contract ids of its deployment;
- no OPERATOR_TOKEN → a random one for this run, printed in the banner;
- with the local devnet and DEMO_DATA → a few demo policies bought through the real flow on a first start.

The devnet keeps its journal beside the embedded database's data (``.data/devnet-journal.jsonl``), so a second
run replays the same chain (same chain marker) that the stored data came from.

Everything started here is registered on the caller's ExitStack, so it stops in reverse order on exit.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from policy_registry import wiring
from policy_registry.demo import DemoSeeder
from policy_registry.embedded.devnet import DevnetAccount, LocalDevnet
from policy_registry.embedded.secantus import Durability, EmbeddedMongo
from policy_registry.settings import DatabaseSettings, Settings

log = logging.getLogger(__name__)


@dataclass
class EmbeddedParts:
    mongodb_uri: str
    devnet: LocalDevnet | None = None
    accounts: dict[str, DevnetAccount] = field(default_factory=dict)
    generated_operator_token: bool = False
    devnet_journal: Path | None = None
    demo: DemoSeeder | None = None


@contextmanager
def _progress(what: str, log_path: Path, every_s: float = 5.0) -> Iterator[None]:
    """A line every few seconds while a slow child starts, so the console is never silent for long."""
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not done.wait(every_s):
            log.info("still %s (%.0f s so far; its log: %s)", what, time.monotonic() - started, log_path)

    ticker = threading.Thread(target=tick, name="start-progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()


def devnet_journal_path(settings: DatabaseSettings) -> Path | None:
    """Beside the embedded database's data; none when that lives in memory."""
    if str(settings.embedded_db_path) == ":memory:":
        return None
    return settings.embedded_db_path.parent / "devnet-journal.jsonl"


def start_embedded(settings: Settings, stack: ExitStack, *, devnet: bool = True) -> EmbeddedParts:
    """Start what the settings do not point at; mutates `settings` to point at what was started."""
    uri = settings.mongodb_uri
    if uri is None:
        data = settings.embedded_db_path
        log.info("MONGODB_URI is not set: starting the embedded SecantusDB server (data in %s)", data)
        uri = stack.enter_context(
            EmbeddedMongo(data, log_path=data.parent / "secantus.log", durability=Durability.from_settings(settings))
        ).uri
        log.info("embedded database ready at %s", uri)
    parts = EmbeddedParts(mongodb_uri=uri)
    if devnet and not settings.stacks_api_url:
        settings.stacks_network = "devnet"
        quote_signer = wiring.load_signer(settings, "quote")
        journal = devnet_journal_path(settings)
        log.info(
            "STACKS_API_URL is not set: starting the local Stacks devnet (contracts/devnet; 5-15 s%s)",
            f", replaying its journal {journal}" if journal is not None and journal.exists() else "",
        )
        chain = LocalDevnet(
            block_interval=settings.devnet_block_interval_s,
            burn_ratio=settings.devnet_burn_ratio,
            quote_signer_pubkey=quote_signer.public_key.hex() if quote_signer else None,
            log_path=settings.embedded_db_path.parent / "devnet.log",
            state_file=journal,
            contracts_dir=Path(settings.devnet_contracts_dir) if settings.devnet_contracts_dir else None,
            node=settings.devnet_node or None,
            startup_timeout=300.0,  # a long journal replays for a while on a slow machine
        )
        parts.devnet_journal = journal
        with _progress("starting the devnet", chain.log_path):
            stack.enter_context(chain)
        assert chain.url is not None
        settings.stacks_api_url = chain.url
        settings.registry_contract_id = chain.contracts["policy_registry"]
        settings.vault_contract_id = chain.contracts["liquidity_pool_vault"]
        backend = chain.accounts["backend"]
        if settings.backend_key is None and settings.backend_key_file is None:
            settings.backend_key = SecretStr(backend.private_key)
        if quote_signer is None:  # the devnet made the backend account's key the quote signer
            settings.quote_key = SecretStr(backend.private_key)
        parts.devnet, parts.accounts = chain, dict(chain.accounts)
        log.info("devnet ready at %s (chain marker %s)", chain.url, chain.chain_marker)
    if settings.operator_token is None and parts.devnet is not None:
        settings.operator_token = SecretStr(secrets.token_urlsafe(24))
        parts.generated_operator_token = True
    if parts.devnet is not None and settings.demo_data:
        parts.demo = stack.enter_context(DemoSeeder(settings, uri, parts.accounts))
    return parts


def banner(settings: Settings, parts: EmbeddedParts) -> str:
    """What a person needs to start exploring: URLs, demo accounts, the operator token of this run, and the
    shell variables the README's walkthrough uses."""
    base = f"http://{settings.host}:{settings.port}"
    embedded_db = settings.mongodb_uri is None
    lines = [
        "",
        "BitHedge Policy Registry is running",
        f"  GraphiQL / GraphQL   {base}/graphql   (the walkthrough's operations are in its tabs)",
        f"  health               {base}/healthz   {base}/readyz",
    ]
    if (settings.web_app_dir / "index.html").is_file():
        lines.append(f"  example page         {base}/app/   (sign in with a demo wallet, buy, watch, activate)")
    if parts.devnet is not None:
        lines.append(f"  Stacks API (devnet)  {settings.stacks_api_url}   (chain {parts.devnet.chain_marker})")
        if parts.devnet_journal is not None:
            lines.append(f"  devnet journal       {parts.devnet_journal}   (the same chain comes back next run)")
    else:
        lines.append(f"  Stacks API           {settings.stacks_api_url}")
    where = f"   (data in {settings.embedded_db_path})" if embedded_db else ""
    lines.append(f"  database             {parts.mongodb_uri}{where}")
    token = settings.operator_token.get_secret_value() if settings.operator_token is not None else None
    if parts.generated_operator_token and token is not None:
        lines.append(f"  operator token       {token}   (this run only; send as x-operator-token)")
    if parts.demo is not None:
        lines.append("  demo data            a few policies bought by wallet_2..4 on a first start (log: 'demo data')")
    if parts.accounts:
        lines.append(f"  demo accounts (devnet only; keys: GET {settings.stacks_api_url}/devnet/accounts)")
        for name, account in parts.accounts.items():
            lines.append(f"    {name:<9} {account.address}")
    if parts.devnet is not None:
        exports = f"export API={base}/graphql DEVNET={settings.stacks_api_url}"
        if parts.generated_operator_token and token is not None:
            exports += f" OPERATOR={token}"
        lines += ["  for the README's walkthrough, in another shell (from the project directory):", f"    {exports}"]
    lines.append("  Ctrl-C stops everything.")
    return "\n".join(lines)
