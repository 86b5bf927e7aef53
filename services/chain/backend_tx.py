"""Sign and broadcast a backend contract call (the seed's ``signAndBroadcastBackendTx``, docs/design.md)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from .api_client import StacksApiClient
from .c32 import parse_principal
from .clarity import ClarityValue
from .errors import BadNonce, BroadcastRejected, ChainError, ChainNotFound, ConflictingNonceInMempool
from .nonces import NonceManager
from .signer import BackendSigner
from .transactions import (
    PostCondition,
    PostConditionMode,
    StacksTransaction,
    make_contract_call,
)

log = logging.getLogger(__name__)

DEFAULT_FEE_USTX = 10_000


@dataclass(frozen=True, slots=True)
class FeePolicy:
    default: int = DEFAULT_FEE_USTX  # when the node gives no estimate
    minimum: int = 1_000
    maximum: int = 500_000  # the cap: never pay more than this per transaction


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    txid: str
    nonce: int
    fee: int
    raw_tx: str  # hex, so the caller can record and rebroadcast the exact same bytes


OnSigned = Callable[[StacksTransaction], Awaitable[None] | None]
BeforeSigning = Callable[[int], Awaitable[None]]
OnRejected = Callable[[BroadcastRejected], Awaitable[None]]


async def choose_fee(client: StacksApiClient, tx: StacksTransaction, policy: FeePolicy) -> int:
    """The node's middle estimate for this payload, clamped to [minimum, maximum]; the default when the node
    cannot estimate."""
    try:
        estimates = await client.estimate_fee(tx.payload.to_wire().hex(), len(tx.serialize()))
        fee = estimates[len(estimates) // 2]
    except (ChainNotFound, ChainError) as exc:
        log.info("fee estimate unavailable (%s); using the default %d", type(exc).__name__, policy.default)
        fee = policy.default
    return max(policy.minimum, min(policy.maximum, fee))


async def sign_and_broadcast_contract_call(
    client: StacksApiClient,
    signer: BackendSigner,
    nonces: NonceManager,
    *,
    contract_id: str,
    function_name: str,
    function_args: Sequence[ClarityValue],
    fee: int | None = None,
    fee_policy: FeePolicy | None = None,
    post_conditions: Iterable[PostCondition] = (),
    post_condition_mode: PostConditionMode = PostConditionMode.DENY,
    on_signed: OnSigned | None = None,
    before_signing: BeforeSigning | None = None,
    on_rejected: OnRejected | None = None,
    nonce_retries: int = 2,
) -> BroadcastResult:
    """Build, sign (backend key) and broadcast a contract call with the next nonce.

    ``before_signing`` runs with the nonce once it is chosen, just before anything is signed (the last moment a
    caller can refuse to sign, e.g. a lease check); if it raises, the nonce is given back.
    ``on_signed`` runs with the signed transaction before it is sent, so the caller can record the txid and
    raw bytes first (a timeout after sending leaves the outcome unknown, never unrecorded); if it raises, nothing
    is sent and the nonce is given back. A ``BadNonce`` or ``ConflictingNonceInMempool`` rejection resyncs the
    nonce (at least to ``BadNonce``'s expected one) and retries (``nonce_retries`` times), telling
    ``on_rejected`` about each refusal it retried; any other rejection gives the nonce back and raises the typed
    error."""
    policy = fee_policy or FeePolicy()
    if fee is not None and fee > policy.maximum:
        raise ValueError(f"fee {fee} exceeds the cap {policy.maximum}")
    address, name = parse_principal(contract_id)
    if name is None:
        raise ValueError("contract_id must be ADDRESS.contract-name")
    pcs = tuple(post_conditions)
    attempt = 0
    while True:
        nonce = await nonces.next_nonce()

        def build(tx_fee: int, tx_nonce: int = nonce) -> StacksTransaction:
            return make_contract_call(
                contract_address=str(address),
                contract_name=name,
                function_name=function_name,
                function_args=function_args,
                signer=signer,
                nonce=tx_nonce,
                fee=tx_fee,
                network=signer.network,
                post_condition_mode=post_condition_mode,
                post_conditions=pcs,
            )

        try:
            if before_signing is not None:
                await before_signing(nonce)
            tx = build(fee if fee is not None else policy.default)
            if fee is None:
                chosen = await choose_fee(client, tx, policy)
                if chosen != tx.fee:
                    tx = build(chosen)
        except Exception:
            await nonces.release(nonce)
            raise
        if on_signed is not None:
            try:
                outcome = on_signed(tx)
                if inspect.isawaitable(outcome):
                    await outcome
            except BaseException:  # nothing was sent (the caller refused to record it): the nonce is unused
                await nonces.release(nonce)
                raise
        try:
            txid = await client.broadcast_transaction(tx.serialize())
        except (BadNonce, ConflictingNonceInMempool) as exc:
            expected = exc.expected if isinstance(exc, BadNonce) else None
            log.warning("broadcast of nonce %d rejected (%s); resyncing", nonce, exc.reason)
            await nonces.resync(expected)
            attempt += 1
            if attempt > nonce_retries:
                raise
            if on_rejected is not None:
                await on_rejected(exc)
            continue
        except BroadcastRejected:
            await nonces.release(nonce)
            raise
        return BroadcastResult(txid=txid, nonce=nonce, fee=tx.fee, raw_tx=tx.serialize_hex())
