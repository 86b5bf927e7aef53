"""The embedded default: whatever the settings leave unset runs locally as child processes.

- no MONGODB_URI → SecantusDB on a free loopback port, data in EMBEDDED_DB_PATH;
- no STACKS_API_URL → the local devnet (contracts/devnet) on a free loopback port, with the registry's quote
  signer and backend principal set to the keys this process uses (the devnet's backend account unless
  BACKEND_KEY / QUOTE_KEY say otherwise) and the contract ids of its deployment;
- no OPERATOR_TOKEN → a random one for this run, printed in the banner.

Everything started here is registered on the caller's ExitStack, so it stops in reverse order on exit.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import ExitStack
from dataclasses import dataclass, field

from pydantic import SecretStr

from policy_registry import wiring
from policy_registry.embedded.devnet import DevnetAccount, LocalDevnet
from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class EmbeddedParts:
    mongodb_uri: str
    devnet: LocalDevnet | None = None
    accounts: dict[str, DevnetAccount] = field(default_factory=dict)
    generated_operator_token: bool = False


def start_embedded(settings: Settings, stack: ExitStack, *, devnet: bool = True) -> EmbeddedParts:
    """Start what the settings do not point at; mutates `settings` to point at what was started."""
    uri = settings.mongodb_uri
    if uri is None:
        data = settings.embedded_db_path
        log.info("MONGODB_URI is not set: starting the embedded SecantusDB server (data in %s)", data)
        uri = stack.enter_context(EmbeddedMongo(data, log_path=data.parent / "secantus.log")).uri
        log.info("embedded database ready at %s", uri)
    parts = EmbeddedParts(mongodb_uri=uri)
    if devnet and not settings.stacks_api_url:
        settings.stacks_network = "devnet"
        quote_signer = wiring.load_signer(settings, "quote")
        log.info("STACKS_API_URL is not set: starting the local Stacks devnet (contracts/devnet)")
        chain = LocalDevnet(
            block_interval=settings.devnet_block_interval_s,
            burn_ratio=settings.devnet_burn_ratio,
            quote_signer_pubkey=quote_signer.public_key.hex() if quote_signer else None,
            log_path=settings.embedded_db_path.parent / "devnet.log",
        )
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
    return parts


def banner(settings: Settings, parts: EmbeddedParts) -> str:
    """What a person needs to start exploring: URLs, demo accounts, the operator token of this run."""
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        "",
        "BitHedge Policy Registry is running",
        f"  GraphiQL / GraphQL   {base}/graphql",
        f"  health               {base}/healthz   {base}/readyz",
        f"  Stacks API (devnet)  {settings.stacks_api_url}"
        if parts.devnet
        else f"  Stacks API           {settings.stacks_api_url}",
        f"  database             {parts.mongodb_uri}",
    ]
    if parts.generated_operator_token and settings.operator_token is not None:
        lines.append(
            f"  operator token       {settings.operator_token.get_secret_value()}   "
            "(this run only; send as x-operator-token)"
        )
    if parts.accounts:
        lines.append("  demo accounts (devnet only; keys: GET " + f"{settings.stacks_api_url}/devnet/accounts)")
        for name, account in parts.accounts.items():
            lines.append(f"    {name:<9} {account.address}")
    lines.append("  Ctrl-C stops everything.")
    return "\n".join(lines)
