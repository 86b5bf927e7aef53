"""The local devnet through the service's own chain layer (services.chain): the same client, transactions and
signatures the service uses against testnet and mainnet."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest

from policy_registry.embedded.devnet import DevnetError, LocalDevnet
from policy_registry.embedded.process import free_port
from services.chain import (
    TESTNET,
    BackendSigner,
    BadNonce,
    ClarityErr,
    ClarityOk,
    ClarityUInt,
    ContractLogEvent,
    NonceManager,
    NoSuchPublicFunction,
    NotEnoughFunds,
    QuoteTerms,
    ReadOnlyCallError,
    SignatureValidation,
    StacksApiClient,
    TxMonitorResult,
    make_contract_call,
    monitor_transaction,
    sign_and_broadcast_contract_call,
    sign_quote,
    stx_post_condition,
    to_python,
    uint_cv,
)
from services.chain.clarity import string_ascii_cv
from tests.fixtures.creation import signed_creation_tx
from tests.fixtures.devnet import DevnetFixture  # the `devnet` fixture comes via tests/conftest.py pytest_plugins

pytestmark = pytest.mark.devnet

PREMIUM = 1_500_000
COLLATERAL = 40_000_000


@pytest.fixture
async def client(devnet: DevnetFixture) -> AsyncIterator[StacksApiClient]:
    async with StacksApiClient(devnet.url) as api:
        yield api


def signer_for(devnet: DevnetFixture, name: str) -> BackendSigner:
    return BackendSigner.from_hex(devnet.accounts[name].private_key, TESTNET)


async def signed_terms(
    devnet: DevnetFixture,
    client: StacksApiClient,
    owner: str,
    *,
    expires_in: int = 10,
) -> tuple[QuoteTerms, bytes]:
    burn = (await client.get_tip()).burn_block_height
    terms = QuoteTerms(
        registry=devnet.registry,
        quote_id=os.urandom(16),
        owner=owner,
        protected_value_usd8=6_500_000_000_000,
        protected_amount_sats=25_000_000,
        expiration_height=burn + expires_in,
        policy_type="PUT",
        premium_ustx=PREMIUM,
        collateral_ustx=COLLATERAL,
        risk_tier="Conservative",
        quote_expiry_height=burn + 2,
    )
    return terms, sign_quote(devnet.quote_private_key, terms)


async def create_policy(devnet: DevnetFixture, client: StacksApiClient, buyer: BackendSigner, **kw: int) -> int:
    terms, signature = await signed_terms(devnet, client, buyer.address, **kw)
    nonce = (await client.get_account(buyer.address)).nonce
    tx = signed_creation_tx(terms, signature, buyer, nonce, fee=2_000)
    txid = await client.broadcast_transaction(tx)
    await devnet.amine()
    outcome = await monitor_transaction(client, txid, timeout=5, poll_interval=0.05)
    assert outcome.state == "success", outcome
    assert isinstance(outcome.result, ClarityOk) and isinstance(outcome.result.value, ClarityUInt)
    return outcome.result.value.value


async def test_node_surface_through_the_client(devnet: DevnetFixture, client: StacksApiClient) -> None:
    info = await client.get_node_info()
    tip = await client.get_tip()
    assert info.network_id == TESTNET.chain_id
    assert info.stacks_tip_height == tip.block_height
    assert info.burn_block_height == tip.burn_block_height
    assert info.raw["devnet_chain_marker"] == devnet.process.chain_marker
    block = await client.get_block(tip.block_height)
    assert block.canonical and block.hash == tip.block_hash
    assert (await client.get_block(tip.block_hash)).height == tip.block_height
    account = await client.get_account(devnet.accounts["wallet_1"].address)
    assert account.balance > 0 and account.nonce >= 0
    backend = await client.call_read_only(
        devnet.registry, "get-backend-principal", sender=devnet.accounts["deployer"].address
    )
    assert to_python(backend) == devnet.accounts["backend"].address


async def test_broadcast_pending_mined_success_with_events(devnet: DevnetFixture, client: StacksApiClient) -> None:
    buyer = signer_for(devnet, "wallet_1")
    terms, signature = await signed_terms(devnet, client, buyer.address)
    before = await client.get_account(buyer.address)
    tx = signed_creation_tx(terms, signature, buyer, before.nonce)
    txid = await client.broadcast_transaction(tx)
    assert (await client.get_transaction(txid)).is_pending

    await devnet.amine()
    outcome = await monitor_transaction(client, txid, timeout=5, poll_interval=0.05)
    assert outcome.state == "success"
    info = await client.get_transaction(txid)
    assert info.canonical is True and info.nonce == before.nonce and info.sender_address == buyer.address
    assert info.raw["post_condition_mismatch"] is None
    assert info.raw["contract_call"]["function_name"] == "create-policy-entry"
    assert isinstance(outcome.result, ClarityOk)
    policy_id = to_python(outcome.result.value)

    after = await client.get_account(buyer.address)
    assert before.balance - after.balance == PREMIUM + 3_000
    assert after.nonce == before.nonce + 1

    page = await client.get_contract_logs(devnet.registry, limit=5)
    created = [to_python(e.value) for e in page.events if e.tx_id == txid]
    assert created and created[0]["event"] == "policy-created"
    assert created[0]["policy-id"] == policy_id
    assert created[0]["quote-id"] == terms.quote_id
    policy = to_python(
        await client.call_read_only(devnet.registry, "get-policy", [uint_cv(policy_id)], sender=buyer.address)
    )
    assert policy["owner"] == buyer.address and policy["premium-ustx"] == PREMIUM


async def test_rejections_are_typed(devnet: DevnetFixture, client: StacksApiClient) -> None:
    sender = signer_for(devnet, "wallet_2")
    address, name = devnet.registry.split(".")
    nonce = (await client.get_account(sender.address)).nonce

    def call(function: str, *, tx_nonce: int, signer: BackendSigner = sender, fee: int = 1_000) -> bytes:
        tx = make_contract_call(
            contract_address=address,
            contract_name=name,
            function_name=function,
            function_args=[uint_cv(1), uint_cv(2), uint_cv(0), uint_cv(0)]
            if function == "update-policy-status"
            else [],
            signer=signer,
            nonce=tx_nonce,
            fee=fee,
            network=TESTNET,
        )
        return tx.serialize()

    with pytest.raises(NoSuchPublicFunction):
        await client.broadcast_transaction(call("get-policy-counter", tx_nonce=nonce))
    tampered = bytearray(call("update-policy-status", tx_nonce=nonce))
    tampered[60] ^= 0x01
    with pytest.raises(SignatureValidation):
        await client.broadcast_transaction(bytes(tampered))
    stranger = BackendSigner(os.urandom(32), TESTNET)
    with pytest.raises(NotEnoughFunds):
        await client.broadcast_transaction(call("update-policy-status", tx_nonce=0, signer=stranger))

    await client.broadcast_transaction(call("update-policy-status", tx_nonce=nonce))
    await devnet.amine()
    with pytest.raises(BadNonce) as rejected:
        await client.broadcast_transaction(call("update-policy-status", tx_nonce=nonce, fee=1_001))
    assert rejected.value.expected == nonce + 1

    with pytest.raises(ReadOnlyCallError):
        await client.call_read_only(devnet.registry, "no-such-function", sender=sender.address)


async def test_backend_expiration_needs_burn_blocks(devnet: DevnetFixture, client: StacksApiClient) -> None:
    buyer = signer_for(devnet, "wallet_3")
    policy_id = await create_policy(devnet, client, buyer, expires_in=3)
    policy = to_python(
        await client.call_read_only(devnet.registry, "get-policy", [uint_cv(policy_id)], sender=buyer.address)
    )
    expiration = policy["expiration-height"]

    backend = signer_for(devnet, "backend")
    nonces = NonceManager(client, backend.address)

    async def expire() -> TxMonitorResult:
        sent = await sign_and_broadcast_contract_call(
            client,
            backend,
            nonces,
            contract_id=devnet.registry,
            function_name="update-policy-status",
            function_args=[uint_cv(policy_id), uint_cv(2), uint_cv(0), uint_cv(0)],
        )
        await devnet.amine()
        return await monitor_transaction(client, sent.txid, timeout=5, poll_interval=0.05)

    early = await expire()
    assert early.state == "failed" and isinstance(early.result, ClarityErr)
    assert to_python(early.result.value) == 104

    burn = (await client.get_tip()).burn_block_height
    mined = await devnet.amine(blocks=0, burn_blocks=expiration - burn + 1)
    assert mined["chain_tip"]["burn_block_height"] == expiration + 1
    done = await expire()
    assert done.state == "success", done
    assert done.burn_block_height == expiration + 1
    updated = to_python(
        await client.call_read_only(devnet.registry, "get-policy", [uint_cv(policy_id)], sender=buyer.address)
    )
    assert updated["status"] == 2


async def test_nonce_sequencing_and_log_pages(devnet: DevnetFixture, client: StacksApiClient) -> None:
    provider = signer_for(devnet, "wallet_4")
    nonces = NonceManager(client, provider.address)
    sent = []
    for i in range(12):
        sent.append(
            await sign_and_broadcast_contract_call(
                client,
                provider,
                nonces,
                contract_id=devnet.vault,
                function_name="deposit",
                function_args=[string_ascii_cv("Balanced"), uint_cv(3_000_000 + i)],
                fee=1_000,
                post_conditions=[stx_post_condition("origin", "eq", 3_000_000 + i)],
            )
        )
    assert [s.nonce for s in sent] == list(range(sent[0].nonce, sent[0].nonce + 12))
    await devnet.amine()
    for s in sent:
        assert (await monitor_transaction(client, s.txid, timeout=5, poll_interval=0.05)).state == "success"

    seen: list[ContractLogEvent] = []
    cursor = None
    while True:
        page = await client.get_contract_logs(devnet.vault, limit=5, cursor=cursor)
        seen.extend(page.events)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert page.total == len(seen)
    amounts = [to_python(e.value)["amount-ustx"] for e in seen[:12]]
    assert amounts == [3_000_000 + i for i in reversed(range(12))]
    assert len({(e.tx_id, e.event_index) for e in seen}) == len(seen)


async def test_launcher_restart_is_a_new_chain_and_leaves_no_process(devnet: DevnetFixture) -> None:
    port = free_port()
    async with LocalDevnet(block_interval=0, port=port) as other:
        assert other.port == port != devnet.process.port
        assert other.chain_marker != devnet.process.chain_marker
        pid = other.pid
        assert pid is not None
        async with httpx.AsyncClient() as http:
            info = (await http.get(f"{other.url}/v2/info")).json()
        assert info["devnet_chain_marker"] == other.chain_marker
        assert "backend" in other.accounts
        assert "private_key" not in repr(other.accounts["backend"])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(DevnetError):
        other.mine()
    assert not other.log_path.exists()  # the launcher's own temporary log is cleaned up
