"""Every reason a Stacks node gives for refusing a transaction, through the real backend-transaction queue.

The node's 400 bodies are stacks-core's ``MemPoolRejection::into_json`` shapes (``reason_data`` only where the
reason carries data; ``NotEnoughFunds`` amounts as 0x hex), served by a loopback Hiro API; the devnet gives the
same bodies for the reasons it produces (contracts/devnet/devnet_test.mjs). Real SecantusDB, real signing: each
case checks what the queue did (a fresh nonce, a higher fee within the cap, a wait, or a stop with the policy
failed), what ``backend_txs`` records, and what ``/metrics`` reports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.core import Metric

from policy_registry.metrics import _backend_tx_families
from services.backend_txs import BackendTxQueue, BackendTxSender, BackendTxSettings, PolicyAction
from services.backend_txs import fees as fees_module
from services.backend_txs.rejections import HANDLING, UNKNOWN, Action, handling_for
from services.chain.api_client import RetryPolicy, StacksApiClient
from services.chain.backend_tx import FeePolicy
from services.chain.signer import BackendSigner
from services.chain.transactions import StacksTransaction, deserialize_transaction, make_contract_call
from services.core.fencing import LeaseLost
from services.core.models import PolicyRecord
from services.core.status import Cause, StatusDetailed
from services.policies.backend_outcomes import PolicyBackendOutcomes
from services.store.backend_txs import BackendTxRepository
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.factories import make_policy, next_onchain_id
from tests.services.chain.hiro_payloads import transaction
from tests.services.chain.hiro_server import FakeHiro, Reply, Seen, run_fake_hiro

S = StatusDetailed
REGISTRY = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.policy-registry"
VAULT = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.liquidity-pool-vault"
SIGNER = BackendSigner.from_hex("edf9aee84d9b7abc145504dde6726c64f369d37ee34ded868fabd876c26570bc01")
NONCES = f"/extended/v1/address/{SIGNER.address}/nonces"
NEXT_NONCE = 12
CAP = 200_000
SETTINGS = BackendTxSettings(retry_backoff_s=600, fee=FeePolicy(default=10_000, minimum=1_000, maximum=CAP))


def rejection(reason: str, data: dict[str, Any] | None = None, txid: str = "ab" * 32) -> dict[str, Any]:
    """A node's 400 body: `reason_data` present only for reasons with data, as stacks-core writes it."""
    body: dict[str, Any] = {"txid": txid, "error": "transaction rejected", "reason": reason}
    if data is not None:
        body["reason_data"] = data
    return body


def u128(n: int) -> str:
    return "0x" + n.to_bytes(16, "big").hex()


ORIGIN = {"principal": SIGNER.address, "is_origin": True}
BODIES: dict[str, dict[str, Any]] = {
    "Serialization": rejection("Serialization", {"message": "failed to serialize transaction payload"}),
    "Deserialization": rejection("Deserialization", {"message": "Failed to deserialize: unexpected EOF"}),
    "TooMuchChaining": rejection(
        "TooMuchChaining",
        {"message": "Nonce would exceed chaining limit in mempool", "expected": 36, "actual": 37, **ORIGIN},
    ),
    "BadTransactionVersion": rejection("BadTransactionVersion"),
    "SignatureValidation": rejection("SignatureValidation", {"message": "Invalid signature: bad recovery id"}),
    "FeeTooLow": rejection("FeeTooLow", {"expected": 25_000, "actual": 10_000}),
    "TransferRecipientCannotEqualSender": rejection(
        "TransferRecipientCannotEqualSender", {"recipient": SIGNER.address}
    ),
    "TransferAmountMustBePositive": rejection("TransferAmountMustBePositive"),
    "BadNonce": rejection("BadNonce", {"expected": NEXT_NONCE + 3, "actual": NEXT_NONCE, **ORIGIN}),
    "NotEnoughFunds": rejection("NotEnoughFunds", {"expected": u128(10_000), "actual": u128(7)}),
    "EstimatorError": rejection("EstimatorError", {"message": "Estimator error: cost estimation failed"}),
    "NoSuchContract": rejection("NoSuchContract"),
    "NoSuchPublicFunction": rejection("NoSuchPublicFunction"),
    "BadFunctionArgument": rejection("BadFunctionArgument", {"message": "TypeValueError(UIntType, Int(2))"}),
    "ConflictingNonceInMempool": rejection("ConflictingNonceInMempool"),
    "ContractAlreadyExists": rejection("ContractAlreadyExists", {"contract_identifier": REGISTRY}),
    "PoisonMicroblocksDoNotConflict": rejection("PoisonMicroblocksDoNotConflict"),
    "PoisonMicroblockHasUnknownPubKeyHash": rejection("PoisonMicroblockHasUnknownPubKeyHash"),
    "PoisonMicroblockIsInvalid": rejection("PoisonMicroblockIsInvalid"),
    "BadAddressVersionByte": rejection("BadAddressVersionByte"),
    "NoCoinbaseViaMempool": rejection("NoCoinbaseViaMempool"),
    "NoTenureChangeViaMempool": rejection("NoTenureChangeViaMempool"),
    "ServerFailureNoSuchChainTip": rejection("ServerFailureNoSuchChainTip"),
    "ServerFailureDatabase": rejection("ServerFailureDatabase", {"message": "database is locked"}),
    "TemporarilyBlacklisted": rejection("TemporarilyBlacklisted"),
    "ServerFailureOther": rejection("ServerFailureOther", {"message": "Clarity error: Interpreter(...)"}),
}


@pytest.fixture(scope="module")
def _loopback() -> Iterator[FakeHiro]:
    yield from run_fake_hiro()


@pytest.fixture
def hiro(_loopback: FakeHiro) -> FakeHiro:
    _loopback.reset()
    _loopback.on(
        "GET",
        NONCES,
        Reply(body={"last_mempool_tx_nonce": None, "last_executed_tx_nonce": NEXT_NONCE - 1,
                    "possible_next_nonce": NEXT_NONCE, "detected_missing_nonces": [],
                    "detected_mempool_nonces": []}),
    )  # fmt: skip
    return _loopback


@pytest.fixture
async def client(hiro: FakeHiro) -> AsyncIterator[StacksApiClient]:
    c = StacksApiClient(hiro.base_url, timeout=2.0, retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02))
    yield c
    await c.aclose()


class Case:
    """One settlement in flight through a fresh queue, and the transactions the node was sent."""

    def __init__(self, store: MongoStore, client: StacksApiClient, hiro: FakeHiro) -> None:
        self.store = store
        self.hiro = hiro
        self.policies = PolicyRepository(store)
        self.queue = BackendTxQueue(store)
        outcomes = PolicyBackendOutcomes(self.policies)
        self.sender = BackendTxSender(client, SIGNER, store, outcomes, REGISTRY, VAULT, SETTINGS)
        self.sent: list[StacksTransaction] = []

    async def settling(self) -> PolicyRecord:
        policy = await self.policies.insert(
            make_policy(status_detailed=S.Settling, policy_id_onchain=next_onchain_id()), Cause.REQUEST
        )

        async def work(session: Any) -> None:
            await self.queue.enqueue(
                session,
                policy_id=policy.id,
                policy_id_onchain=policy.policy_id_onchain or 0,
                action=PolicyAction.SETTLE,
                settlement_ustx=500_000_000,
                settlement_price_usd8=9_000_000_000_000,
            )

        await self.store.transaction(work)
        return policy

    def node(self, answer: Callable[[StacksTransaction, int], dict[str, Any] | None]) -> None:
        """POST /v2/transactions answers `answer(tx, n)` (a rejection body) or, when it returns None, accepts."""

        def broadcast(seen: Seen) -> Reply:
            tx = deserialize_transaction(seen.body)
            self.sent.append(tx)
            body = answer(tx, len(self.sent))
            return Reply(400, body) if body is not None else Reply(body=tx.txid()[2:])

        self.hiro.on("POST", "/v2/transactions", broadcast)

    async def retry_now(self, policy: PolicyRecord) -> None:
        """Make the policy's transaction due at once (no waiting out its backoff) and run the queue once."""
        await self.store.db.backend_txs.update_one(
            {"policy_id": policy.id}, {"$set": {"next_try_at": datetime.now(UTC)}}
        )
        await self.sender.process_once()

    async def doc(self, policy: PolicyRecord) -> dict[str, Any]:
        doc = await self.store.db.backend_txs.find_one({"policy_id": policy.id})
        assert doc is not None
        return doc


def samples(families: list[Metric], name: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for family in families:
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sample.labels.values())] = sample.value
    return out


def test_every_reason_of_the_node_has_a_handling_and_a_recorded_body() -> None:
    assert set(BODIES) == set(HANDLING)
    assert handling_for("SomethingNewer") is UNKNOWN and UNKNOWN.action is Action.WAIT and UNKNOWN.alert


@pytest.mark.parametrize("reason", sorted(HANDLING))
async def test_a_refused_first_broadcast(
    reason: str, store: MongoStore, client: StacksApiClient, hiro: FakeHiro
) -> None:
    handling = handling_for(reason)
    case = Case(store, client, hiro)
    policy = await case.settling()
    # the node refuses the first broadcast, then takes whatever comes next
    case.node(lambda tx, n: BODIES[reason] if n == 1 else None)
    await case.sender.process_once()
    doc = await case.doc(policy)
    last = doc["last_rejection"]
    assert (last["reason"], last["action"]) == (reason, handling.action.value)
    assert last["reason_data"] == BODIES[reason].get("reason_data")
    assert doc["rejections"] == [last]
    assert ("alert" in doc) is handling.alert
    current = await case.policies.require(policy.id)

    if handling.action is Action.STOP:
        assert doc["status"] == "failed" and doc["stopped_by"] == reason and "active" not in doc
        assert doc["failure_reason"].startswith(f"refused by the node: {reason}")
        assert current.status_detailed is S.FailedSettlement and current.failure_reason == doc["failure_reason"]
        assert doc["alert"]["reason"] == reason
        assert len(case.sent) == 1  # never sent again
    elif handling.action is Action.WAIT:
        assert doc["status"] == "queued" and doc["txid"] is None and doc["refused_txid"] == case.sent[0].txid()
        assert doc["failures"] == 1 and doc["next_try_at"].replace(tzinfo=UTC) > datetime.now(UTC)
        assert current.status_detailed is S.Settling
        await case.sender.process_once()  # not before its backoff
        assert len(case.sent) == 1
    elif handling.action is Action.FRESH_NONCE:
        # re-signed at once with the nonce the node expects (BadNonce's reason_data) or a resynced one
        assert [tx.nonce for tx in case.sent] == [NEXT_NONCE, NEXT_NONCE + 3 if reason == "BadNonce" else NEXT_NONCE]
        assert doc["status"] == "broadcast" and doc["txid"] == case.sent[1].txid()
    else:  # bump_fee: FeeTooLow, signed again at the node's minimum on the next step
        assert doc["status"] == "queued" and doc["min_fee"] == 25_000
        await case.sender.process_once()
        assert [tx.fee for tx in case.sent] == [10_000, 25_000] and case.sent[1].nonce == NEXT_NONCE
        assert (await case.doc(policy))["status"] == "broadcast"

    families = await _backend_tx_families(BackendTxRepository(store))
    assert samples(families, "backend_tx_rejections_total") == {(reason, handling.action.value): 1.0}
    assert samples(families, "backend_tx_alerts") == ({(reason,): 1.0} if handling.alert else {})


async def test_a_fee_the_node_wants_above_the_cap_stops(
    store: MongoStore, client: StacksApiClient, hiro: FakeHiro
) -> None:
    case = Case(store, client, hiro)
    policy = await case.settling()
    case.node(lambda tx, n: rejection("FeeTooLow", {"expected": CAP + 1, "actual": tx.fee}))
    await case.sender.process_once()
    doc = await case.doc(policy)
    assert doc["status"] == "failed" and doc["stopped_by"] == "FeeTooLow" and len(case.sent) == 1
    assert f"above the cap of {CAP} uSTX" in doc["failure_reason"]
    assert (await case.policies.require(policy.id)).status_detailed is S.FailedSettlement


async def test_a_node_that_keeps_asking_for_a_higher_fee_is_not_followed_forever(
    store: MongoStore, client: StacksApiClient, hiro: FakeHiro
) -> None:
    # every signing is refused for a fee one uSTX above what it paid (within the cap): each refusal is a try of
    # the attempt, which fails once its tries are spent instead of re-signing at once, forever
    case = Case(store, client, hiro)
    policy = await case.settling()
    case.node(lambda tx, n: rejection("FeeTooLow", {"expected": tx.fee + 1, "actual": tx.fee}))
    for _ in range(SETTINGS.max_attempts + 3):
        await case.sender.process_once()
    doc = await case.doc(policy)
    assert doc["status"] == "failed" and len(case.sent) == SETTINGS.max_attempts
    assert "FeeTooLow" in doc["failure_reason"]
    assert [tx.fee for tx in case.sent] == [10_000 + i for i in range(SETTINGS.max_attempts)]
    assert (await case.policies.require(policy.id)).status_detailed is S.FailedSettlement


async def test_a_wait_that_outlasts_its_retries_fails_and_an_operator_retry_clears_the_alert(
    store: MongoStore, client: StacksApiClient, hiro: FakeHiro
) -> None:
    case = Case(store, client, hiro)
    policy = await case.settling()
    case.node(lambda tx, n: BODIES["NotEnoughFunds"])
    for _ in range(SETTINGS.max_attempts):
        await case.retry_now(policy)
    doc = await case.doc(policy)
    assert doc["status"] == "failed" and len(doc["rejections"]) == SETTINGS.max_attempts
    assert "NotEnoughFunds: the sender needs 10000 uSTX and holds 7" in doc["failure_reason"]
    assert [tx.nonce for tx in case.sent] == [NEXT_NONCE] * SETTINGS.max_attempts  # the nonce came back each time
    assert samples(await _backend_tx_families(BackendTxRepository(store)), "backend_tx_alerts") == {
        ("NotEnoughFunds",): 1.0
    }

    failed = await case.policies.require(policy.id)
    await case.policies.transition(failed, S.Settling, Cause.OPERATOR)

    async def retry(session: Any) -> None:
        await case.queue.enqueue(
            session, policy_id=policy.id, policy_id_onchain=failed.policy_id_onchain or 0, action=PolicyAction.SETTLE
        )

    await store.transaction(retry)
    assert samples(await _backend_tx_families(BackendTxRepository(store)), "backend_tx_alerts") == {}


async def recorded_in_flight(case: Case, policy: PolicyRecord, fee: int) -> StacksTransaction:
    """The settlement as a crashed worker left it: signed and broadcast, then unknown to the API."""
    case.node(lambda tx, n: None)
    await case.sender.process_once()
    doc = await case.doc(policy)
    first = deserialize_transaction(bytes.fromhex(doc["raw_tx"]))
    assert doc["status"] == "broadcast" and first.fee == fee
    case.hiro.on("GET", f"/extended/v1/tx/{first.txid()}", Reply(404, {"error": "could not find transaction"}))
    case.sent.clear()
    return first


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("ConflictingNonceInMempool", "bumped"),  # our own waiting transaction: replaced at a higher fee
        ("FeeTooLow", "bumped"),
        ("TemporarilyBlacklisted", "waits"),
        ("NoSuchContract", "stops"),
    ],
)
async def test_a_refused_re_send(
    reason: str, expected: str, store: MongoStore, client: StacksApiClient, hiro: FakeHiro
) -> None:
    case = Case(store, client, hiro)
    policy = await case.settling()
    first = await recorded_in_flight(case, policy, 10_000)
    case.node(lambda tx, n: BODIES[reason] if n == 1 else None)
    await case.sender.process_once()  # follows it: unknown → re-sends the same bytes → refused
    doc = await case.doc(policy)
    assert case.sent[0].txid() == first.txid()
    assert doc["last_rejection"]["reason"] == reason
    if expected == "bumped":
        replacement = case.sent[1]
        assert replacement.nonce == first.nonce and doc["txid"] == replacement.txid()
        assert replacement.fee == (25_000 if reason == "FeeTooLow" else 15_000)
        assert doc["status"] == "broadcast" and doc["replaced_txid"] == first.txid()
    elif expected == "waits":
        assert len(case.sent) == 1 and doc["status"] == "broadcast" and doc["failures"] == 1
    else:
        assert len(case.sent) == 1 and doc["status"] == "failed" and doc["stopped_by"] == reason


async def test_a_replaced_transaction_that_was_mined_anyway_is_followed_not_signed_again(
    store: MongoStore, client: StacksApiClient, hiro: FakeHiro
) -> None:
    """A replacement does not reach every miner: the transaction it replaced can still be mined. The node then
    refuses the replacement's re-send with BadNonce; the queue must find its own earlier transaction at that nonce
    and follow it, not sign a second one with a fresh nonce (which the registry would refuse, for another fee)."""
    case = Case(store, client, hiro)
    policy = await case.settling()
    first = await recorded_in_flight(case, policy, 10_000)
    case.node(lambda tx, n: BODIES["ConflictingNonceInMempool"] if n == 1 else None)
    await case.sender.process_once()  # unknown → re-sent → refused → replaced at the same nonce
    replacement = case.sent[1]
    assert (await case.doc(policy))["txid"] == replacement.txid() and replacement.nonce == first.nonce

    # the first one is mined; the replacement is unknown, and the node now refuses anything at that nonce
    mined = transaction("success", tx_id=first.txid(), nonce=first.nonce)
    case.hiro.on("GET", f"/extended/v1/tx/{first.txid()}", Reply(body=mined))
    case.hiro.on("GET", f"/extended/v1/tx/{replacement.txid()}", Reply(404, {"error": "could not find transaction"}))
    case.node(lambda tx, n: rejection("BadNonce", {"expected": first.nonce + 1, "actual": tx.nonce, **ORIGIN}))
    case.sent.clear()
    for _ in range(3):
        await case.retry_now(policy)
    assert [tx.nonce for tx in case.sent] == [first.nonce]  # the replacement's bytes once; nothing signed anew
    doc = await case.doc(policy)
    assert doc["status"] == "success" and doc["txid"] == first.txid() and "active" not in doc


async def test_a_dropped_transaction_whose_nonce_went_elsewhere_is_signed_afresh(
    store: MongoStore, client: StacksApiClient, hiro: FakeHiro
) -> None:
    """Dropped by the node, and its nonce then taken by another transaction: re-sending it can only meet BadNonce,
    so the attempt is signed again with a fresh nonce (it used to re-send the dead bytes at every step, forever)."""
    case = Case(store, client, hiro)
    policy = await case.settling()
    first = await recorded_in_flight(case, policy, 10_000)
    dropped = transaction("dropped_stale_garbage_collect", tx_id=first.txid(), nonce=first.nonce)
    case.hiro.on("GET", f"/extended/v1/tx/{first.txid()}", Reply(body=dropped))
    case.node(lambda tx, n: rejection("BadNonce", {"expected": first.nonce + 1, "actual": tx.nonce, **ORIGIN}))
    await case.sender.process_once()
    assert (await case.doc(policy))["status"] == "queued"
    case.hiro.on("GET", NONCES, Reply(body={"possible_next_nonce": first.nonce + 1, "detected_missing_nonces": []}))
    case.node(lambda tx, n: None)
    await case.sender.process_once()
    assert [tx.nonce for tx in case.sent] == [first.nonce, first.nonce + 1]
    assert (await case.doc(policy))["status"] == "broadcast"


async def test_a_replacement_already_at_the_cap_stops(
    store: MongoStore, client: StacksApiClient, hiro: FakeHiro
) -> None:
    case = Case(store, client, hiro)
    policy = await case.settling()
    await store.db.backend_txs.update_one({"policy_id": policy.id}, {"$set": {"min_fee": CAP}})
    first = await recorded_in_flight(case, policy, CAP)
    case.node(lambda tx, n: BODIES["ConflictingNonceInMempool"])
    await case.sender.process_once()
    doc = await case.doc(policy)
    assert [tx.txid() for tx in case.sent] == [first.txid()]  # nothing left to bump: no replacement signed
    assert doc["status"] == "failed" and f"needs a fee above the cap of {CAP} uSTX" in doc["failure_reason"]


async def test_a_hostile_refusal_is_recorded_bounded(
    store: MongoStore, client: StacksApiClient, hiro: FakeHiro
) -> None:
    case = Case(store, client, hiro)
    policy = await case.settling()
    data = {"expected": 2**70, "nested": [{"deep": [[["a" * 10]]]}], "blob": "z" * 10_000}
    weird = {"txid": "x" * 5000, "error": "transaction rejected", "reason": "Not a reason!" * 50, "reason_data": data}
    case.node(lambda tx, n: weird)
    await case.sender.process_once()
    doc = await case.doc(policy)
    last = doc["last_rejection"]
    assert last["reason"] == "Other" and last["action"] == "wait" and doc["alert"]["reason"] == "Other"
    assert last["reason_data"] == {"truncated": last["reason_data"]["truncated"]}
    assert len(last["reason_data"]["truncated"]) == 2000 and len(last["txid"]) == 80
    assert samples(await _backend_tx_families(BackendTxRepository(store)), "backend_tx_rejections_total") == {
        ("Other", "wait"): 1.0
    }


async def test_a_bad_nonce_past_u64_is_not_taken_as_a_nonce(
    store: MongoStore, client: StacksApiClient, hiro: FakeHiro
) -> None:
    case = Case(store, client, hiro)
    policy = await case.settling()
    case.node(
        lambda tx, n: rejection("BadNonce", {"expected": 2**64, "actual": tx.nonce, **ORIGIN}) if n == 1 else None
    )
    await case.sender.process_once()
    assert [tx.nonce for tx in case.sent] == [NEXT_NONCE, NEXT_NONCE]  # resynced from the API instead
    doc = await case.doc(policy)
    assert doc["status"] == "broadcast" and doc["last_rejection"]["reason_data"]["expected"] == str(2**64)


async def test_the_history_keeps_the_latest_refusals_and_the_metric_counts_every_one(
    store: MongoStore, client: StacksApiClient, hiro: FakeHiro, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a transaction the node keeps refusing must not grow without bound: the history is capped (here at 2), the
    # counts behind backend_tx_rejections_total keep every refusal
    monkeypatch.setattr("services.backend_txs.refusals.REJECTIONS_KEPT", 2)
    case = Case(store, client, hiro)
    policy = await case.settling()
    case.node(lambda tx, n: BODIES["NotEnoughFunds"])
    for _ in range(SETTINGS.max_attempts):
        await case.retry_now(policy)
    doc = await case.doc(policy)
    assert len(case.sent) == SETTINGS.max_attempts
    assert [r["txid"] for r in doc["rejections"]] == [BODIES["NotEnoughFunds"]["txid"]] * 2
    assert doc["rejections"][-1] == doc["last_rejection"]
    assert doc["rejection_counts"] == {"NotEnoughFunds": {"wait": SETTINGS.max_attempts}}
    families = await _backend_tx_families(BackendTxRepository(store))
    assert samples(families, "backend_tx_rejections_total") == {("NotEnoughFunds", "wait"): SETTINGS.max_attempts}


async def test_a_worker_that_lost_its_lease_signs_no_replacement(
    store: MongoStore, client: StacksApiClient, hiro: FakeHiro, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the re-send is refused (ConflictingNonceInMempool: replace at a higher fee); the lease is lost once that
    # refusal is recorded, before the replacement: the worker must stop before it signs the replacement
    case = Case(store, client, hiro)
    policy = await case.settling()
    await recorded_in_flight(case, policy, 10_000)
    case.node(lambda tx, n: BODIES["ConflictingNonceInMempool"])
    signed: list[int] = []
    real_sign = make_contract_call  # what fees_module imported

    def signing(**kw: Any) -> StacksTransaction:
        signed.append(kw["fee"])
        return real_sign(**kw)

    monkeypatch.setattr(fees_module, "make_contract_call", signing)

    class LostOnceRefused:
        async def fence(self, session: Any) -> None:
            doc = await store.db.backend_txs.find_one({"policy_id": policy.id})  # committed state
            if doc is not None and "last_rejection" in doc:
                raise LeaseLost("the lease was taken over")

    with pytest.raises(LeaseLost):
        await case.sender.process_once(LostOnceRefused())
    doc = await case.doc(policy)
    assert doc["last_rejection"]["reason"] == "ConflictingNonceInMempool"
    assert signed == [] and len(case.sent) == 1  # only the same bytes were re-sent; nothing new was signed
    assert doc["status"] == "broadcast" and "replaced_txid" not in doc
