"""The deploy command (``contracts/deploy/deploy.mjs``) on the devnet, as an operator runs it on testnet.

A second copy of both contracts is deployed from another devnet account (``deployer_2``) through
``POST /v2/transactions``: the first run is killed while its first transaction waits in the mempool, and the second
run resumes it without sending it again. A third run finds everything in place and sends nothing; a run with a
changed source is refused before it sends anything. Then the service runs a whole lifecycle against the new
contract ids: buy → Active → activate → Settled, and expiry → Expired.

The devnet mines only on demand: the helper mines whenever the deployer has a transaction waiting, so every wait
of the command ends on a signal, never on a timer.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from policy_registry.container import Services
from policy_registry.embedded.devnet import DEFAULT_CONTRACTS_DIR
from policy_registry.settings import Settings
from services.chain.clarity import to_python
from services.core.status import StatusDetailed
from tests.fixtures.devnet import DevnetFixture
from tests.integration.test_policy_lifecycle_devnet import Harness

pytestmark = pytest.mark.devnet
S = StatusDetailed
DEPLOYER = "deployer_2"
DEPOSITS = {"Conservative": 1_000_000_000_000, "Balanced": 1_000_000}  # uSTX from the deployer
DEPLOY = DEFAULT_CONTRACTS_DIR / "deploy" / "deploy.mjs"
STEPS = ["deploy liquidity-pool-vault", "deploy policy-registry", "set-backend-principal", "set-quote-signer"]
STEPS += [f"deposit {tier}" for tier in DEPOSITS]


@dataclass
class Run:
    code: int
    result: dict[str, Any] | None
    stderr: str


class Operator:
    """Runs the deploy command the way the runbook does, with key files and a state file of its own."""

    def __init__(self, devnet: DevnetFixture, workdir: Path) -> None:
        self.devnet = devnet
        self.workdir = workdir
        self.address = devnet.accounts[DEPLOYER].address
        self.state_file = workdir / "deploy-state.json"
        keys = {
            "deployer": devnet.accounts[DEPLOYER].private_key,
            "backend": devnet.accounts["backend"].private_key,
            "quote": devnet.quote_private_key.hex(),
        }
        self.key_files = {}
        for name, key in keys.items():
            path = workdir / f"{name}.key"
            path.write_text(key + "\n")
            path.chmod(0o600)
            self.key_files[name] = path
        self.secrets = list(keys.values())

    def argv(self, manifest: Path | None = None) -> list[str]:
        argv = [shutil.which("node") or "node", str(DEPLOY), "--json", "--node", self.devnet.url]
        argv += ["--network", "devnet", "--poll-interval", "0.05", "--timeout", "60"]
        argv += ["--deployer-key-file", str(self.key_files["deployer"])]
        argv += ["--backend-key-file", str(self.key_files["backend"])]
        argv += ["--quote-key-file", str(self.key_files["quote"])]
        argv += ["--state-file", str(self.state_file)]
        argv += ["--deposit", ",".join(f"{tier}={amount}" for tier, amount in DEPOSITS.items())]
        if manifest is not None:
            argv += ["--manifest", str(manifest)]
        return argv

    async def pending(self, http: httpx.AsyncClient) -> list[int]:
        body = (await http.get(f"{self.devnet.url}/extended/v1/address/{self.address}/nonces")).json()
        return list(body["detected_mempool_nonces"])

    async def nonce(self) -> int:
        async with httpx.AsyncClient() as http:
            return int((await http.get(f"{self.devnet.url}/v2/accounts/{self.address}")).json()["nonce"])

    async def run(self, manifest: Path | None = None, *, kill_when_pending: bool = False) -> Run:
        """Runs the command to its end, mining each transaction it waits for; with `kill_when_pending`, SIGKILLs
        it instead as soon as its first transaction is in the mempool (a crash after the broadcast)."""
        proc = await asyncio.create_subprocess_exec(
            *self.argv(manifest),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.workdir,
            env={k: v for k, v in os.environ.items() if not k.endswith("_KEY_FILE")},
        )
        outputs = asyncio.gather(proc.stdout.read(), proc.stderr.read())  # type: ignore[union-attr]
        deadline = asyncio.get_running_loop().time() + 120
        async with httpx.AsyncClient() as http:
            while proc.returncode is None:
                if await self.pending(http):
                    if kill_when_pending:
                        proc.send_signal(signal.SIGKILL)
                        break
                    await self.devnet.amine()
                assert asyncio.get_running_loop().time() < deadline, "the deploy command did not finish"
                try:
                    await asyncio.wait_for(proc.wait(), 0.05)
                except TimeoutError:
                    pass
        await proc.wait()
        stdout, stderr = await outputs
        text = stderr.decode()
        for secret in self.secrets:  # keys never reach the output
            assert secret not in text and secret[:64] not in text and secret not in stdout.decode()
        result = json.loads(stdout) if proc.returncode == 0 else None
        return Run(proc.returncode or 0, result, text)


@pytest.fixture(scope="module")
async def deployed(devnet: DevnetFixture, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The second copy, deployed through a crash and a resumption."""
    operator = Operator(devnet, tmp_path_factory.mktemp("deploy"))
    crashed = await operator.run(kill_when_pending=True)
    assert crashed.code == -signal.SIGKILL
    recorded = json.loads(operator.state_file.read_text())["steps"]
    # killed once the node had it: recorded as signed (the kill beat the "sent" write) or sent, the same to a resume
    assert list(recorded) == [STEPS[0]] and recorded[STEPS[0]]["status"] in ("signed", "sent")
    assert "private" not in json.dumps(recorded) and operator.secrets[0] not in operator.state_file.read_text()

    resumed = await operator.run()
    assert resumed.code == 0, resumed.stderr
    assert resumed.result is not None
    steps = resumed.result["steps"]
    # the killed run's transaction was waited for, not sent again; everything after it was sent once
    assert steps[0] == {"step": STEPS[0], "outcome": "resumed", "txid": recorded[STEPS[0]]["txid"]}
    assert "not sending it again" in resumed.stderr
    assert [s["step"] for s in steps if s["outcome"] == "sent"] == STEPS[1:]
    assert await operator.nonce() == len(STEPS)  # one transaction per step, none twice
    return {"operator": operator, "result": resumed.result}


async def test_the_deploy_prints_the_settings_and_a_rerun_sends_nothing(
    deployed: dict[str, Any], devnet: DevnetFixture
) -> None:
    operator: Operator = deployed["operator"]
    address = devnet.accounts[DEPLOYER].address
    settings = deployed["result"]["settings"]
    assert settings["REGISTRY_CONTRACT_ID"] == f"{address}.policy-registry"
    assert settings["VAULT_CONTRACT_ID"] == f"{address}.liquidity-pool-vault"
    assert settings["STACKS_API_URL"] == devnet.url and settings["STACKS_NETWORK"] == "devnet"
    assert deployed["result"]["backend_principal"] == devnet.accounts["backend"].address
    assert deployed["result"]["quote_signer"] == devnet.quote_public_key.hex()

    again = await operator.run()
    assert again.code == 0, again.stderr
    assert again.result is not None
    assert again.result["steps"] == [{"step": step, "outcome": "present"} for step in STEPS]
    assert await operator.nonce() == len(STEPS)

    operator.state_file.unlink()  # without its state file, the chain alone says what is there
    blind = await operator.run()
    assert blind.code == 0, blind.stderr
    assert blind.result is not None and {s["outcome"] for s in blind.result["steps"]} == {"present"}
    assert await operator.nonce() == len(STEPS)


async def test_a_deployed_contract_with_another_source_is_refused(deployed: dict[str, Any], tmp_path: Path) -> None:
    operator: Operator = deployed["operator"]
    shutil.copy(DEFAULT_CONTRACTS_DIR / "Clarinet.toml", tmp_path / "Clarinet.toml")
    shutil.copytree(DEFAULT_CONTRACTS_DIR / "contracts", tmp_path / "contracts")
    changed = tmp_path / "contracts" / "policy-registry.clar"
    changed.write_text(changed.read_text() + "\n;; a local edit\n")
    refused = await operator.run(tmp_path / "Clarinet.toml")
    assert refused.code == 4
    assert f"{operator.address}.policy-registry is deployed with a different source than {changed}" in refused.stderr
    assert await operator.nonce() == len(STEPS)  # nothing was sent


@pytest.fixture
async def second_copy(
    deployed: dict[str, Any], devnet: DevnetFixture, mongo_server: Any, db_name: str
) -> AsyncIterator[Harness]:
    """The service configured from the command's printed settings, as the runbook says."""
    printed = deployed["result"]["settings"]
    settings = Settings(
        _env_file=None,
        mongodb_database=db_name,
        stacks_api_url=printed["STACKS_API_URL"],
        registry_contract_id=printed["REGISTRY_CONTRACT_ID"],
        vault_contract_id=printed["VAULT_CONTRACT_ID"],
        quote_key=devnet.quote_private_key.hex(),
        backend_key=devnet.accounts["backend"].private_key,
    )
    services = await Services.create(settings, mongo_server.uri)
    assert services.local_prices is not None
    await services.local_prices.load()
    await services.oracle.refresh()
    h = Harness(services, devnet, printed["REGISTRY_CONTRACT_ID"], printed["VAULT_CONTRACT_ID"])
    await h.sync()  # the new vault's deposits: its tier mirror comes from its own logs
    yield h
    await h.set_btc(10_000_000_000_000)
    await services.store.client.drop_database(db_name)
    await services.close()


async def test_a_whole_lifecycle_on_the_second_copy(second_copy: Harness) -> None:
    h = second_copy
    lifecycle = h.services.lifecycle
    assert lifecycle is not None and h.services.tip is not None
    for tier, amount in DEPOSITS.items():
        mirror = await h.services.store.db.tiers.find_one({"_id": tier})
        assert mirror is not None and mirror["capital_ustx"] == amount

    settled = await h.create_active("wallet_1")  # buy → Active, on the new registry
    expiring = await h.create_active("wallet_2", days=1)
    deployer = h.devnet.accounts["deployer"].address
    counter = await h.chain.call_read_only(h.registry, "get-policy-counter", [], sender=deployer)
    assert to_python(counter) == 3  # the second copy counts its own policies
    await h.set_btc(9_000_000_000_000)
    before = await h.balance("wallet_1")
    settling = await lifecycle.request_activation(settled.owner, settled.policy_id_onchain or 0)
    assert settling.status_detailed is S.Settling and settling.settlement_ustx == 500_000_000
    await h.settle_round()
    done = await h.services.policies.require(settled.id)
    assert done.status_detailed is S.Settled and done.status_onchain == 1
    assert await h.balance("wallet_1") == before + 500_000_000

    burn = await h.services.tip.burn_height()
    await h.mine(1, expiring.expiration_height - burn + 1)
    h.services.tip.invalidate()
    assert expiring.id in (await lifecycle.check_expirations()).expiring
    await h.settle_round()
    expired = await h.services.policies.require(expiring.id)
    assert expired.status_detailed is S.Expired and expired.status_onchain == 2
    assert await h.policy_lock(expired) is None
    for tier in DEPOSITS:
        mirror = await h.services.store.db.tiers.find_one({"_id": tier})
        chain = await h.chain_tier(tier)
        assert mirror is not None
        assert (mirror["capital_ustx"], mirror["locked_ustx"]) == (chain["capital-ustx"], chain["locked-ustx"])
