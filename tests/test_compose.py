"""docker-compose.yml, the production-like stack (no Docker engine here, so its structure is checked): every
service is there with a health check, each sets only variables the program it runs reads, the API leaves the
jobs to the worker, and everything points at the same database, chain and contracts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # no stubs installed

from policy_registry.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SERVICE_SETTINGS = {name.upper() for name in Settings.model_fields}
# what contracts/devnet/server.mjs reads from its environment (parseOptions)
DEVNET_ENV = set(re.findall(r'"((?:DEVNET|QUOTE_SIGNER)_[A-Z_]+)"', (ROOT / "contracts/devnet/server.mjs").read_text()))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def env(compose: dict[str, Any], service: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in (compose["services"][service].get("environment") or {}).items()}


def test_the_stack_has_its_services_each_with_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"mongo", "mongo-init", "devnet", "api", "worker"}
    for name in ("mongo", "devnet", "api", "worker"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"} and check["retries"] > 0, name
    assert services["mongo-init"]["restart"] == "no"  # a one-shot initialisation


def test_mongo_is_a_single_node_replica_set_initiated_once(compose: dict[str, Any]) -> None:
    mongo, init = compose["services"]["mongo"], compose["services"]["mongo-init"]
    assert "--replSet" in mongo["command"] and "rs0" in mongo["command"]
    script = " ".join(init["entrypoint"])
    assert "rs.initiate" in script and "rs.status()" in script and "mongo:27017" in script
    assert init["depends_on"]["mongo"]["condition"] == "service_healthy"


def test_each_service_sets_only_variables_its_program_reads(compose: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        unknown = set(env(compose, name)) - SERVICE_SETTINGS
        assert not unknown, f"{name} sets {unknown}, which the service does not read"
    assert DEVNET_ENV, "could not read the devnet's variables from server.mjs"
    unknown = set(env(compose, "devnet")) - DEVNET_ENV
    assert not unknown, f"devnet sets {unknown}, which server.mjs does not read"


def test_the_api_leaves_the_jobs_to_the_worker(compose: dict[str, Any]) -> None:
    api, worker = compose["services"]["api"], compose["services"]["worker"]
    assert env(compose, "api")["RUN_WORKER"] == "false"
    assert "policy-registry serve" in api["command"] and "policy-registry worker" in worker["command"]
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert "chain-listener" in " ".join(worker["healthcheck"]["test"])  # alive = holds the listener's lease
    for name in ("api", "worker"):
        conditions = {k: v["condition"] for k, v in compose["services"][name]["depends_on"].items()}
        assert conditions == {"mongo-init": "service_completed_successfully", "devnet": "service_healthy"}


def test_api_and_worker_share_database_chain_contracts_and_keys(compose: dict[str, Any]) -> None:
    api, worker = env(compose, "api"), env(compose, "worker")
    shared = (
        "MONGODB_URI", "MONGODB_DATABASE", "STACKS_API_URL", "STACKS_NETWORK", "REGISTRY_CONTRACT_ID",
        "VAULT_CONTRACT_ID", "BACKEND_KEY_FILE", "QUOTE_KEY_FILE",
    )  # fmt: skip
    for key in shared:
        assert api[key] == worker[key], key
    assert "replicaSet=rs0" in api["MONGODB_URI"] and "mongo:27017" in api["MONGODB_URI"]
    devnet = env(compose, "devnet")
    assert api["STACKS_API_URL"] == f"http://devnet:{devnet['DEVNET_PORT']}"
    deployer = api["REGISTRY_CONTRACT_ID"].split(".")[0]
    defaults = Settings(_env_file=None)
    assert api["REGISTRY_CONTRACT_ID"] == defaults.registry_contract_id  # the devnet deployer's contracts
    assert api["VAULT_CONTRACT_ID"] == f"{deployer}.liquidity-pool-vault"


def test_keys_come_from_secret_files_and_the_devnet_keeps_its_journal(compose: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        variables = env(compose, name)
        assert "BACKEND_KEY" not in variables and "QUOTE_KEY" not in variables  # never in the environment
        assert set(compose["services"][name]["secrets"]) == {"backend_key", "quote_key"}
        assert variables["BACKEND_KEY_FILE"] == "/run/secrets/backend_key"
        assert variables["QUOTE_KEY_FILE"] == "/run/secrets/quote_key"
        assert variables["OPERATOR_TOKEN"].startswith("${OPERATOR_TOKEN:?")  # from the operator's shell
    assert set(compose["secrets"]) == {"backend_key", "quote_key"}
    devnet = compose["services"]["devnet"]
    journal = env(compose, "devnet")["DEVNET_STATE_FILE"]
    assert any(v.startswith("devnet-data:") and journal.startswith(v.split(":")[1]) for v in devnet["volumes"])
    assert "devnet/server.mjs" in devnet["command"]
    assert set(compose["volumes"]) >= {"mongo-data", "devnet-data"}
