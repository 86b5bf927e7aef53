"""Service configuration, read from the environment (and an optional `.env`).

Every setting has a default that runs the embedded local stack; production sets `MONGODB_URI` and the chain
settings. Names are documented in the README's configuration table (tests/test_settings_env.py holds both to the
code). The settings come in six groups by concern; `Settings` is all of them, so `settings.<field>` reads any, and
code that needs one concern takes that group.
"""

from __future__ import annotations

import socket
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The same for every group and no prefix: each field is read from the variable of its name in upper case.
_CONFIG = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")


class DatabaseSettings(BaseSettings):
    """MongoDB, durability (docs/operations.md "Durability") and the embedded SecantusDB server."""

    model_config = _CONFIG

    mongodb_uri: str | None = Field(
        default=None,
        description="MongoDB connection string (a replica set: change streams and transactions need one). "
        "Unset: start the embedded SecantusDB server as a child process.",
    )
    mongodb_database: str = "policy_registry"
    mongodb_timeout_ms: int = Field(default=5000, ge=100)
    embedded_db_path: Path = Field(
        default=PROJECT_ROOT / ".data" / "secantus",
        description="Data directory of the embedded SecantusDB server; survives restarts.",
    )
    mongodb_write_concern: str = Field(
        default="majority",
        pattern=r"^(majority|[1-9][0-9]?)$",
        description="Write concern `w` of every write: `majority` (default) or a number of members (1-99).",
    )
    mongodb_journal: bool = Field(default=True, description="Write concern `j`: acknowledged only once journaled.")
    mongodb_write_timeout_ms: int = Field(
        default=10_000, ge=100, description="Write concern `wtimeout`: how long a write waits for its members."
    )
    mongodb_txn_read_concern: Literal["snapshot", "majority"] = Field(
        default="snapshot", description="Read concern of every transaction."
    )
    embedded_db_sync_on_commit: bool = Field(
        default=True, description="Embedded SecantusDB: fsync its log on every commit (--sync-on-commit)."
    )
    embedded_db_oplog_retention_s: int = Field(
        default=48 * 3600, ge=60, description="Embedded SecantusDB: oplog retention (resume tokens live this long)."
    )
    embedded_db_oplog_max_entries: int = Field(
        default=1_000_000, ge=1000, description="Embedded SecantusDB: oplog entry cap (whichever bound hits first)."
    )
    embedded_db_noop_heartbeat_s: float = Field(
        default=10.0, gt=0, description="Embedded SecantusDB: no-op oplog heartbeat, keeps idle resume tokens fresh."
    )


class HttpSettings(BaseSettings):
    """The HTTP/GraphQL face and its limits, sign-in, live updates, and the process-wide knobs (logging, operator
    token, instance id)."""

    model_config = _CONFIG

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # None: the service's own pages (http://127.0.0.1:PORT and http://localhost:PORT), whatever PORT is.
    cors_origins: Annotated[list[str] | None, NoDecode] = None
    ws_origins: Annotated[list[str] | None, NoDecode] = None
    graphiql_enabled: bool = True
    introspection_enabled: bool = True
    # The example web page (examples/web, built by `npm run build` there) served at /app when its index.html exists.
    web_app_dir: Path = Field(
        default=PROJECT_ROOT / "examples" / "web" / "dist",
        description="Directory of the built web page served at /app (nothing is served when it is missing).",
    )

    # GraphQL limits
    max_query_depth: int = Field(default=10, ge=2)
    max_query_tokens: int = Field(default=2000, ge=50)
    max_query_aliases: int = Field(default=30, ge=1)
    # docs/security.md "Hostile clients" (fragment blow-up): fields after fragment expansion, aliases counted
    max_query_fields: int = Field(default=300, ge=10, description="Most fields once fragments are expanded.")
    max_page_size: int = Field(default=100, ge=1)
    default_page_size: int = Field(default=20, ge=1)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    operator_token: SecretStr | None = None
    instance_id: str | None = Field(
        default=None,
        description="Stable name of this process (change-stream resume token, leases); default: host name and port.",
    )

    # sign-in, live updates, request limits (docs/security.md, docs/subscriptions.md)
    auth_challenge_ttl_s: int = Field(default=300, ge=10, description="How long a sign-in challenge may be signed.")
    session_ttl_s: int = Field(default=86_400, ge=60, description="Lifetime of a session token.")
    rate_limit_per_s: float = Field(default=20.0, ge=0, description="HTTP requests per second per client IP; 0 = off.")
    rate_limit_burst: int = Field(default=60, ge=1, description="HTTP requests a client IP may send at once.")
    ws_rate_limit_per_s: float = Field(default=10.0, ge=0, description="WS operations/s per connection; 0 = off.")
    ws_rate_limit_burst: int = Field(default=30, ge=1, description="WS operations a connection may start at once.")
    ws_compression: bool = Field(
        default=False, description="permessage-deflate on WebSockets (~50 KiB and a compression per frame each)."
    )
    max_request_bytes: int = Field(default=131_072, ge=1024, description="Largest HTTP body / WebSocket message.")
    subscription_max_pending: int = Field(default=100, ge=1, description="Distinct messages a subscriber may lag.")
    subscription_stall_timeout_s: float = Field(default=30.0, gt=0, description="Drop a subscriber stuck this long.")
    subscription_replay_limit: int = Field(default=1000, ge=1, description="Most changes `since` may replay.")
    # garbage collection kept off the fan-out path (policy_registry/collector.py, docs/performance.md)
    gc_freeze: bool = Field(default=True, description="Freeze start-up objects and settled subscriptions' objects.")
    gc_threshold0: int = Field(default=20_000, ge=100, description="Allocations between young collections.")
    gc_full_collection_interval_s: float = Field(
        default=3600.0, ge=0, description="Seconds between periodic full collections of frozen objects (0: none)."
    )
    # hostile clients: sign-in challenges (docs/security.md "Hostile clients")
    auth_challenges_per_client: int = Field(default=10, ge=1, description="Open sign-in challenges per client IP.")
    auth_challenges_per_address: int = Field(default=20, ge=1, description="Open sign-in challenges per address.")

    @field_validator("cors_origins", "ws_origins", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        # Accept "a,b" as well as a JSON list, so shells and compose files stay readable.
        if isinstance(value, str) and not value.strip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins", "ws_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and "*" in value:
            raise ValueError("origins must be listed explicitly; '*' is not allowed")
        return value

    def _own_origins(self) -> list[str]:
        return [f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"]

    @property
    def allowed_cors_origins(self) -> list[str]:
        return self.cors_origins if self.cors_origins is not None else self._own_origins()

    @property
    def allowed_ws_origins(self) -> list[str]:
        return self.ws_origins if self.ws_origins is not None else self._own_origins()

    @property
    def process_instance_id(self) -> str:
        """INSTANCE_ID, or its default: host name and port, stable across restarts of the same replica."""
        return self.instance_id or f"{socket.gethostname()}:{self.port}"


class ChainSettings(BaseSettings):
    """The Stacks API, the contracts, the keys, and the chain's clock."""

    model_config = _CONFIG

    stacks_api_url: str | None = Field(
        default=None, description="Stacks node + Hiro API base URL. Unset: start the local devnet (contracts/devnet)."
    )
    stacks_api_key: SecretStr | None = None
    stacks_network: Literal["devnet", "testnet", "mainnet"] = "devnet"
    registry_contract_id: str = "STH2F0YQ4EY0F9KAK9DWTNHZMKVHVF71AQC25Y32.policy-registry"
    vault_contract_id: str = "STH2F0YQ4EY0F9KAK9DWTNHZMKVHVF71AQC25Y32.liquidity-pool-vault"
    backend_key_file: Path | None = Field(default=None, description="File holding the backend principal's key (hex).")
    backend_key: SecretStr | None = Field(default=None, description="The backend principal's key (hex), if no file.")
    quote_key_file: Path | None = Field(default=None, description="File holding the quote-signing key (hex).")
    quote_key: SecretStr | None = Field(default=None, description="The quote-signing key (hex), if no file.")
    chain_confirmations: int = Field(default=1, ge=0, description="Burn blocks an event must have before it applies.")
    burn_blocks_per_day: int = Field(default=144, ge=1)
    burn_block_seconds: float | None = Field(
        default=None, gt=0, description="Expected burn block time for estimates; default 600, devnet: its interval."
    )


class WorkerSettings(BaseSettings):
    """The worker's singleton jobs: listener, monitors, reconciliation, oracle, expiration, backend txs
    (docs/listener.md)."""

    model_config = _CONFIG

    run_worker: bool = Field(default=True, description="Run the worker (listener and jobs) inside `serve`.")
    listener_poll_interval_s: float = Field(default=2.0, gt=0)
    listener_reorg_window: int = Field(default=64, ge=1, description="Stacks blocks re-checked for reorgs.")
    chain_restart_policy: Literal["halt", "orphan"] = Field(
        default="halt", description="On a new chain marker: halt until an operator accepts it, or orphan the old."
    )
    tx_monitor_interval_s: float = Field(default=5.0, gt=0, description="Creation-tx monitor and quote expiry.")
    reconcile_interval_s: float = Field(default=60.0, gt=0, description="Seconds between reconciliation runs.")
    lease_ttl_s: float = Field(default=15.0, ge=1, description="Job lease lifetime; renewed every third of it.")
    oracle_sources: Literal["local", "exchanges"] = Field(
        default="local", description="local: a deterministic feed an operator sets; exchanges: public tickers."
    )
    oracle_poll_interval_s: float = Field(default=30.0, gt=0)
    expiration_check_interval_s: float = Field(default=30.0, gt=0)
    backend_tx_interval_s: float = Field(default=2.0, gt=0)


class PremiumSettings(BaseSettings):
    """The premium model, and the bounds of a quote and of a wallet's open quotes (DESIGN §7; docs/security.md,
    "Hostile clients")."""

    model_config = _CONFIG

    quote_ttl_burn_blocks: int | None = Field(
        default=None, ge=1, description="Burn blocks a signed quote stays valid; default 6 (~1 h), 150 on devnet."
    )
    min_amount_sats: int = Field(default=10_000, gt=0)
    max_amount_sats: int = Field(default=10_000_000_000, gt=0)
    min_strike_ppm: int = Field(default=500_000, gt=0)
    max_strike_ppm: int = Field(default=1_500_000, gt=0)
    max_duration_days: int = Field(default=365, ge=1)
    premium_risk_free_rate: Decimal = Decimal("0.02")
    premium_protocol_fee: Decimal = Decimal("0.01")
    premium_risk_load: Decimal = Decimal("1.5")
    premium_duration_factor: Decimal = Decimal("0.5")
    tier_premium_multipliers: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "Conservative": Decimal("0.8"),
            "Balanced": Decimal("1.0"),
            "Aggressive": Decimal("1.2"),
        }
    )
    tier_collateral_ratio_ppm: dict[str, int] = Field(
        default_factory=lambda: {"Conservative": 1_100_000, "Balanced": 1_000_000, "Aggressive": 900_000}
    )
    tier_conservative_min_ppm: int = Field(default=950_000, gt=0, le=1_000_000)
    tier_balanced_min_ppm: int = Field(default=850_000, gt=0, le=1_000_000)
    max_open_quotes_per_wallet: int = Field(
        default=3, ge=1, description="Signed quotes a wallet may hold open (reserved, not on chain yet)."
    )
    max_wallet_tier_share_ppm: int = Field(
        default=100_000, gt=0, le=1_000_000, description="Share of a tier's capital one wallet's open quotes may hold."
    )
    creation_fee_estimate_ustx: int = Field(
        default=100_000, ge=0, description="Fee counted per creation transaction when checking a wallet's balance."
    )


class DevnetSettings(BaseSettings):
    """The embedded devnet and the demo: block time, demo data, the local price feed's start, node and contracts."""

    model_config = _CONFIG

    devnet_block_interval_s: float = Field(default=2.0, ge=0)
    devnet_burn_ratio: int = Field(default=1, ge=1)
    demo_data: bool = Field(default=True, description="Embedded devnet: buy a few demo policies on first start.")
    local_btc_price_usd8: int = Field(default=10_000_000_000_000, gt=0, description="Initial local BTC-USD price.")
    local_stx_price_usd8: int = Field(default=100_000_000, gt=0, description="Initial local STX-USD price.")
    # Unset (or empty): `node` on PATH, and the repository's contracts/ (policy_registry/embedded/devnet.py).
    devnet_node: str | None = Field(default=None, description="The node binary that runs the local devnet.")
    devnet_contracts_dir: str | None = Field(default=None, description="The contracts tree the devnet runs.")


class Settings(DatabaseSettings, HttpSettings, ChainSettings, WorkerSettings, PremiumSettings, DevnetSettings):
    model_config = _CONFIG


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
