"""A backend-transaction worker whose lease was taken stops before it signs or sends anything (docs/faults.md).

Two real queues (two workers) against SecantusDB and the devnet. Worker A holds the `backend-txs` lease and
starts on a queued settlement; at a precise step its lease is taken over by worker B (the lease document expires
and B acquires it, as after a pause longer than the TTL): before A's first step, while A reads the nonce (its
fenced claim comes next, then signing), or after A signed but before it recorded the bytes (the fenced write that
precedes every broadcast). A must raise LeaseLost having sent nothing, and having signed nothing unless the lease
went after the claim; B then sends the settlement, which confirms once: the policy is Settled once and the
backend principal's nonce advanced by exactly one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.backend_txs import BackendTxSender
from services.chain import TESTNET, BackendSigner, StacksApiClient
from services.chain.api_client import AccountInfo, NonceInfo
from services.core.fencing import LeaseLost
from services.core.status import StatusDetailed
from services.policies.backend_outcomes import PolicyBackendOutcomes
from services.store.leases import Lease
from tests.integration.test_policy_lifecycle_devnet import Harness, harness

pytestmark = pytest.mark.devnet
S = StatusDetailed
LEASE = "backend-txs"

__all__ = ["harness"]


class CountingSigner(BackendSigner):
    """The backend key, counting the hashes it signs."""

    __slots__ = ("signatures",)

    def __init__(self, private_key: bytes, network: Any = TESTNET) -> None:
        super().__init__(private_key, network)
        self.signatures = 0

    def sign_hash_rsv(self, message_hash: bytes) -> bytes:
        self.signatures += 1
        return super().sign_hash_rsv(message_hash)


class HookedClient(StacksApiClient):
    """The devnet's API, running `hook` once just before the call named `step`, and counting broadcasts."""

    def __init__(self, url: str, step: str, hook: Any) -> None:
        super().__init__(url)
        self.step, self.hook, self.broadcasts = step, hook, 0

    async def _at(self, step: str) -> None:
        if step == self.step and self.hook is not None:
            hook, self.hook = self.hook, None
            await hook()

    async def get_account(self, principal: str) -> AccountInfo:  # the balance check, before any write
        await self._at("get_account")
        return await super().get_account(principal)

    async def get_nonces(self, principal: str) -> NonceInfo:  # the nonce, read just before the claim and signing
        await self._at("get_nonces")
        return await super().get_nonces(principal)

    async def estimate_fee(self, payload_hex: str, estimated_len: int) -> tuple[int, ...]:  # signed, not yet sent
        await self._at("estimate_fee")
        return await super().estimate_fee(payload_hex, estimated_len)

    async def broadcast_transaction(self, raw_tx: bytes) -> str:
        self.broadcasts += 1
        return await super().broadcast_transaction(raw_tx)


@pytest.mark.parametrize(
    ("step", "signs_before"),
    [("get_account", False), ("get_nonces", False), ("estimate_fee", True)],
    ids=["before-any-step", "while-the-nonce-is-read", "signed-not-yet-recorded"],
)
async def test_a_worker_whose_lease_was_taken_sends_nothing_and_the_new_holder_settles_once(
    harness: Harness, step: str, signs_before: bool
) -> None:
    h = harness
    lifecycle = h.services.lifecycle
    assert lifecycle is not None
    db = h.services.store.db
    key = h.devnet.accounts["backend"].private_key
    backend = h.devnet.accounts["backend"].address
    policy = await h.create_active("wallet_2", sats=1_000_000)
    await h.set_btc(9_000_000_000_000)
    await lifecycle.request_activation(policy.owner, policy.policy_id_onchain or 0)
    nonce_before = (await h.chain.get_nonces(backend)).possible_next_nonce

    store = h.services.store
    lease_a, lease_b = Lease(store, LEASE, "worker-a", ttl_s=30), Lease(store, LEASE, "worker-b", ttl_s=30)
    await db.leases.delete_one({"_id": LEASE})  # the harness's database is fresh, but say so
    assert await lease_a.acquire()

    async def steal() -> None:
        await db.leases.update_one({"_id": LEASE}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}})
        assert await lease_b.acquire()

    def queue(client: StacksApiClient, signer: BackendSigner) -> BackendTxSender:
        outcomes = PolicyBackendOutcomes(h.services.policies)
        return BackendTxSender(client, signer, h.services.store, outcomes, h.devnet.registry, h.devnet.vault)

    signer_a, signer_b = CountingSigner(bytes.fromhex(key)), CountingSigner(bytes.fromhex(key))
    client_a, client_b = HookedClient(h.devnet.url, step, steal), HookedClient(h.devnet.url, "", None)
    async with client_a, client_b:
        worker_a, worker_b = queue(client_a, signer_a), queue(client_b, signer_b)
        with pytest.raises(LeaseLost):
            await worker_a.process_once(lease_a)
        assert client_a.hook is None, "the steal ran"
        assert client_a.broadcasts == 0  # nothing left worker A
        assert (signer_a.signatures > 0) is signs_before
        assert not lease_a.held
        [tx] = await h.services.backend_txs.for_policy(policy.id)
        assert tx.status == "queued" and tx.txid is None  # A recorded nothing

        await worker_b.process_once(lease_b)  # B signs and sends
        await h.mine()
        await worker_b.process_once(lease_b)  # and follows it to success
        await h.sync()

    assert client_b.broadcasts == 1
    assert (await h.services.policies.require(policy.id)).status_detailed is S.Settled
    history = await h.services.policies.history(policy.id)
    assert [e.to_status for e in history].count(S.Settled) == 1
    assert (await h.chain.get_nonces(backend)).possible_next_nonce == nonce_before + 1
    [tx] = await h.services.backend_txs.for_policy(policy.id)
    assert (tx.attempt, tx.status) == (1, "success")
