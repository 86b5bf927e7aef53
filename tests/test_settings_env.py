"""Configuration is one contract: the six settings groups, the README's "Configuration" table and the code that
reads the environment agree (docs/architecture.md).

- The variables and their defaults are those of the snapshot below, taken before the settings were grouped
  (90 variables), plus DEVNET_NODE and DEVNET_CONTRACTS_DIR, which devnet.py used to read with `os.environ`.
- The README table names exactly those variables, and each default cell says the code's default.
- Nothing outside policy_registry/settings.py reads the environment, but for two named exceptions.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from policy_registry import wiring
from policy_registry.embedded.devnet import DEFAULT_CONTRACTS_DIR, LocalDevnet
from policy_registry.settings import (
    ChainSettings,
    DatabaseSettings,
    DevnetSettings,
    HttpSettings,
    PremiumSettings,
    Settings,
    WorkerSettings,
)

ROOT = Path(__file__).resolve().parent.parent
GROUPS: tuple[type[BaseSettings], ...] = (
    DatabaseSettings,
    HttpSettings,
    ChainSettings,
    WorkerSettings,
    PremiumSettings,
    DevnetSettings,
)

# repr() of every default before the grouping (/tmp/issue17-env-before.json); the two paths were absolute in the
# tree the snapshot came from, so they are rebuilt from this tree's root.
BEFORE: dict[str, str] = {
    "MONGODB_URI": "None",
    "MONGODB_DATABASE": "'policy_registry'",
    "MONGODB_TIMEOUT_MS": "5000",
    "EMBEDDED_DB_PATH": repr(ROOT / ".data" / "secantus"),
    "MONGODB_WRITE_CONCERN": "'majority'",
    "MONGODB_JOURNAL": "True",
    "MONGODB_WRITE_TIMEOUT_MS": "10000",
    "MONGODB_TXN_READ_CONCERN": "'snapshot'",
    "EMBEDDED_DB_SYNC_ON_COMMIT": "True",
    "EMBEDDED_DB_OPLOG_RETENTION_S": "172800",
    "EMBEDDED_DB_OPLOG_MAX_ENTRIES": "1000000",
    "EMBEDDED_DB_NOOP_HEARTBEAT_S": "10.0",
    "HOST": "'127.0.0.1'",
    "PORT": "8000",
    "CORS_ORIGINS": "None",
    "WS_ORIGINS": "None",
    "GRAPHIQL_ENABLED": "True",
    "INTROSPECTION_ENABLED": "True",
    "WEB_APP_DIR": repr(ROOT / "examples" / "web" / "dist"),
    "MAX_QUERY_DEPTH": "10",
    "MAX_QUERY_TOKENS": "2000",
    "MAX_QUERY_ALIASES": "30",
    "MAX_QUERY_FIELDS": "300",
    "MAX_PAGE_SIZE": "100",
    "DEFAULT_PAGE_SIZE": "20",
    "LOG_LEVEL": "'INFO'",
    "LOG_FORMAT": "'text'",
    "OPERATOR_TOKEN": "None",
    "INSTANCE_ID": "None",
    "AUTH_CHALLENGE_TTL_S": "300",
    "SESSION_TTL_S": "86400",
    "RATE_LIMIT_PER_S": "20.0",
    "RATE_LIMIT_BURST": "60",
    "WS_RATE_LIMIT_PER_S": "10.0",
    "WS_RATE_LIMIT_BURST": "30",
    "WS_COMPRESSION": "False",
    "MAX_REQUEST_BYTES": "131072",
    "SUBSCRIPTION_MAX_PENDING": "100",
    "SUBSCRIPTION_STALL_TIMEOUT_S": "30.0",
    "SUBSCRIPTION_REPLAY_LIMIT": "1000",
    "GC_FREEZE": "True",
    "GC_THRESHOLD0": "20000",
    "GC_FULL_COLLECTION_INTERVAL_S": "3600.0",
    "AUTH_CHALLENGES_PER_CLIENT": "10",
    "AUTH_CHALLENGES_PER_ADDRESS": "20",
    "MAX_OPEN_QUOTES_PER_WALLET": "3",
    "MAX_WALLET_TIER_SHARE_PPM": "100000",
    "CREATION_FEE_ESTIMATE_USTX": "100000",
    "STACKS_API_URL": "None",
    "STACKS_API_KEY": "None",
    "STACKS_NETWORK": "'devnet'",
    "REGISTRY_CONTRACT_ID": "'STH2F0YQ4EY0F9KAK9DWTNHZMKVHVF71AQC25Y32.policy-registry'",
    "VAULT_CONTRACT_ID": "'STH2F0YQ4EY0F9KAK9DWTNHZMKVHVF71AQC25Y32.liquidity-pool-vault'",
    "BACKEND_KEY_FILE": "None",
    "BACKEND_KEY": "None",
    "QUOTE_KEY_FILE": "None",
    "QUOTE_KEY": "None",
    "CHAIN_CONFIRMATIONS": "1",
    "LISTENER_POLL_INTERVAL_S": "2.0",
    "RUN_WORKER": "True",
    "LISTENER_REORG_WINDOW": "64",
    "CHAIN_RESTART_POLICY": "'halt'",
    "TX_MONITOR_INTERVAL_S": "5.0",
    "RECONCILE_INTERVAL_S": "60.0",
    "LEASE_TTL_S": "15.0",
    "DEVNET_BLOCK_INTERVAL_S": "2.0",
    "DEVNET_BURN_RATIO": "1",
    "DEMO_DATA": "True",
    "ORACLE_SOURCES": "'local'",
    "ORACLE_POLL_INTERVAL_S": "30.0",
    "EXPIRATION_CHECK_INTERVAL_S": "30.0",
    "BACKEND_TX_INTERVAL_S": "2.0",
    "LOCAL_BTC_PRICE_USD8": "10000000000000",
    "LOCAL_STX_PRICE_USD8": "100000000",
    "QUOTE_TTL_BURN_BLOCKS": "None",
    "BURN_BLOCKS_PER_DAY": "144",
    "BURN_BLOCK_SECONDS": "None",
    "MIN_AMOUNT_SATS": "10000",
    "MAX_AMOUNT_SATS": "10000000000",
    "MIN_STRIKE_PPM": "500000",
    "MAX_STRIKE_PPM": "1500000",
    "MAX_DURATION_DAYS": "365",
    "PREMIUM_RISK_FREE_RATE": "Decimal('0.02')",
    "PREMIUM_PROTOCOL_FEE": "Decimal('0.01')",
    "PREMIUM_RISK_LOAD": "Decimal('1.5')",
    "PREMIUM_DURATION_FACTOR": "Decimal('0.5')",
    "TIER_PREMIUM_MULTIPLIERS": (
        "{'Conservative': Decimal('0.8'), 'Balanced': Decimal('1.0'), 'Aggressive': Decimal('1.2')}"
    ),
    "TIER_COLLATERAL_RATIO_PPM": "{'Conservative': 1100000, 'Balanced': 1000000, 'Aggressive': 900000}",
    "TIER_CONSERVATIVE_MIN_PPM": "950000",
    "TIER_BALANCED_MIN_PPM": "850000",
}
NEW: dict[str, str] = {"DEVNET_NODE": "None", "DEVNET_CONTRACTS_DIR": "None"}

# Defaults the README states as what they compute to (the code's default is None, or an id): the whole cell.
COMPUTED: dict[str, str] = {
    "INSTANCE_ID": "host name and port",
    "CORS_ORIGINS": "the service's own: `http://127.0.0.1:PORT,http://localhost:PORT`",
    "WS_ORIGINS": "same as above",
    "REGISTRY_CONTRACT_ID": "the devnet deployer's `.policy-registry`, `.liquidity-pool-vault`",
    "VAULT_CONTRACT_ID": "the devnet deployer's `.policy-registry`, `.liquidity-pool-vault`",
    "QUOTE_TTL_BURN_BLOCKS": "`6` (`150` on devnet)",
    "BURN_BLOCK_SECONDS": "`600` (devnet: its block interval)",
    "DEVNET_NODE": "`node` on PATH",
    "DEVNET_CONTRACTS_DIR": "`contracts/`",
}

# Reads of the environment outside settings.py: a variable its caller names (kept for its tests), and the
# environment a child process inherits.
ENV_READERS = {"policy_registry/settings.py", "services/chain/signer.py", "policy_registry/embedded/process.py"}


def code_defaults() -> dict[str, Any]:
    fields = {name: field for group in GROUPS for name, field in group.model_fields.items()}
    return {name.upper(): field.get_default(call_default_factory=True) for name, field in fields.items()}


def readme_rows() -> list[tuple[list[str], str]]:
    """(variables, default cell) of each row of the README's configuration table."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        assert len(cells) == 3, line
        rows.append((re.findall(r"`([A-Z0-9_]+)`", cells[0]), cells[1]))
    return rows


def says(token: str, default: Any) -> bool:
    """Whether a backticked README default states `default`."""
    if isinstance(default, bool):
        return token == ("true" if default else "false")
    if isinstance(default, int | float | Decimal):
        return Decimal(token) == Decimal(str(default))
    if isinstance(default, Path):
        return token == default.relative_to(ROOT).as_posix()
    if isinstance(default, dict):
        return bool(json.loads(token, parse_float=Decimal) == default)
    return isinstance(default, str) and token == default


def test_the_groups_keep_every_variable_and_default_and_add_the_two_devnet_ones() -> None:
    groups = [set(group.model_fields) for group in GROUPS]
    assert sum(len(names) for names in groups) == len(set().union(*groups)), "a variable is in two groups"
    assert {name: repr(default) for name, default in code_defaults().items()} == BEFORE | NEW
    assert set(Settings.model_fields) == set().union(*groups)  # Settings is the six groups, nothing more


def test_the_readme_table_names_exactly_the_variables() -> None:
    documented = [name for names, _ in readme_rows() for name in names]
    assert len(documented) == len(set(documented)), "a variable has two rows"
    assert set(documented) == set(BEFORE | NEW)


def test_each_readme_default_is_the_code_default() -> None:
    defaults = code_defaults()
    wrong = []
    for names, cell in readme_rows():
        if any(name in COMPUTED for name in names):
            wrong += [(name, cell) for name in names if COMPUTED.get(name) != cell]
        elif cell == "unset":
            wrong += [(name, cell) for name in names if defaults[name] is not None]
        else:
            tokens = re.findall(r"`([^`]*)`", cell)
            if len(tokens) != len(names):
                wrong.append((", ".join(names), cell))
                continue
            wrong += [
                (name, token) for name, token in zip(names, tokens, strict=True) if not says(token, defaults[name])
            ]
    assert not wrong, f"README defaults that are not the code's: {wrong}"


def test_the_computed_defaults_are_what_the_readme_says(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def settings(**values: Any) -> Settings:
        return Settings(_env_file=None, **values)

    assert settings(port=8123).process_instance_id == f"{socket.gethostname()}:8123"
    own = ["http://127.0.0.1:8123", "http://localhost:8123"]
    assert settings(port=8123).allowed_cors_origins == own and settings(port=8123).allowed_ws_origins == own
    plain = settings()
    deployer = plain.registry_contract_id.split(".")[0]
    assert plain.registry_contract_id == f"{deployer}.policy-registry"
    assert plain.vault_contract_id == f"{deployer}.liquidity-pool-vault"
    assert wiring.quote_limits(settings(stacks_network="mainnet")).quote_ttl_burn_blocks == 6
    assert wiring.quote_limits(settings(stacks_network="devnet")).quote_ttl_burn_blocks == 150
    assert wiring.burn_block_seconds(settings(stacks_network="mainnet")) == 600
    assert wiring.burn_block_seconds(settings(stacks_network="devnet", devnet_block_interval_s=3.0)) == 3.0

    # LocalDevnet built without settings (tests, bench) reads DEVNET_NODE / DEVNET_CONTRACTS_DIR itself.
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("DEVNET_NODE", raising=False)
    monkeypatch.delenv("DEVNET_CONTRACTS_DIR", raising=False)
    unset = LocalDevnet(log_path=tmp_path / "a.log")
    assert unset.contracts_dir == DEFAULT_CONTRACTS_DIR == ROOT / "contracts"
    assert unset._process.argv[0] == (shutil.which("node") or "node")
    monkeypatch.setenv("DEVNET_NODE", "/opt/node/bin/node")
    monkeypatch.setenv("DEVNET_CONTRACTS_DIR", str(tmp_path / "contracts"))
    configured = LocalDevnet(log_path=tmp_path / "b.log")
    assert configured.contracts_dir == tmp_path / "contracts"
    assert configured._process.argv[:2] == ["/opt/node/bin/node", str(tmp_path / "contracts" / "devnet" / "server.mjs")]
    explicit = LocalDevnet(log_path=tmp_path / "c.log", node="node22", contracts_dir=ROOT / "contracts")
    assert explicit.contracts_dir == ROOT / "contracts" and explicit._process.argv[0] == "node22"


def test_only_settings_reads_the_environment() -> None:
    readers = set()
    for package in ("services", "schema", "resolvers", "policy_registry"):
        for path in (ROOT / package).rglob("*.py"):
            if re.search(r"\benviron\b|\bgetenv\b", path.read_text()):
                readers.add(path.relative_to(ROOT).as_posix())
    assert readers <= ENV_READERS, f"environment read outside settings.py: {sorted(readers - ENV_READERS)}"
