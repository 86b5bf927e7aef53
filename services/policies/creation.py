"""Policy creation (DESIGN §7): a signed quote, reserved collateral, a PendingCreation policy, and the contract
call the buyer's wallet signs.

Everything the request writes (the reservation, the policy with its first audit entry, the quote marked used)
commits in one transaction, so a failure leaves nothing behind. Requests carry an idempotency key per owner: a
repeat returns the policy created the first time and the very same prepared call (rebuilt from what was stored,
including the quote signature), never a second policy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Protocol

from pymongo.asynchronous.client_session import AsyncClientSession

from services.chain.api_client import AccountInfo
from services.chain.errors import ChainError, ChainNotFound
from services.chain.signing import HashSigner, QuoteTerms, sign_quote
from services.chain.transactions import PostConditionMode, PreparedContractCall, StxPostCondition, prepare_contract_call
from services.core.clock import now_utc
from services.core.errors import (
    BadInput,
    ChainUnavailable,
    Conflict,
    Forbidden,
    InsufficientCapacity,
    InsufficientFunds,
    NotFound,
    QuotaExceeded,
)
from services.core.input_bounds import IDEMPOTENCY_KEY, TXID, bounded
from services.core.models import PolicyRecord, PolicyType
from services.core.status import Cause, StatusDetailed
from services.core.visibility import is_visible
from services.liquidity import LiquidityService
from services.liquidity.wallet_bounds import WalletBounds
from services.policies.quotes import PolicyParameters, Quote, QuoteService, check_quote_id
from services.store.documents import new_policy_id, parse_object_id
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

log = logging.getLogger(__name__)

_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_TXID = re.compile(r"(0x)?[0-9a-fA-F]{64}")
CREATE_FUNCTION = "create-policy-entry"


class AccountReader(Protocol):
    """The chain's view of an account (`GET /v2/accounts/{principal}`): its STX balance."""

    async def get_account(self, principal: str) -> AccountInfo: ...


def request_hash(owner: str, params: PolicyParameters, quote_id: str | None) -> str:
    """sha256 of the canonical request an idempotency key is bound to: every term the buyer chose."""
    canonical = {
        "owner": owner,
        "policyType": params.policy_type,
        "protectedAmountSats": str(params.protected_amount_sats),
        "protectedValueUsd8": str(params.protected_value_usd8),
        "durationDays": params.duration_days,
        "riskTier": params.risk_tier.value if params.risk_tier is not None else None,
        "quoteId": quote_id.lower().removeprefix("0x") if quote_id is not None else None,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class ChainContracts:
    registry: str  # ADDRESS.policy-registry
    vault: str  # ADDRESS.liquidity-pool-vault
    network: str  # devnet | testnet | mainnet


@dataclass(frozen=True)
class CreationResult:
    policy: PolicyRecord
    quote: Quote
    transaction: PreparedContractCall
    repeated: bool  # True when the idempotency key had been seen: nothing new was created


def quote_terms(policy: PolicyRecord, registry: str) -> QuoteTerms:
    """The terms the backend signs for `policy` and the contract checks: built from the stored record both when
    the quote is signed and when the call is rebuilt, so the two cannot disagree."""
    if policy.quote_id is None or policy.quote_expiry_height is None:
        raise Conflict("this policy was not created through a quote: there is no call to sign", id=policy.id)
    return QuoteTerms(
        registry=registry,
        quote_id=bytes.fromhex(policy.quote_id),
        owner=policy.owner,
        protected_value_usd8=policy.protected_value_usd8,
        protected_amount_sats=policy.protected_amount_sats,
        expiration_height=policy.expiration_height,
        policy_type=policy.policy_type.value,
        premium_ustx=policy.premium_ustx,
        collateral_ustx=policy.collateral_ustx,
        risk_tier=policy.risk_tier.value,
        quote_expiry_height=policy.quote_expiry_height,
    )


def prepared_creation_call(policy: PolicyRecord, contracts: ChainContracts) -> PreparedContractCall:
    """The `create-policy-entry` call for `policy`, exactly as its quote was signed."""
    if policy.quote_signature is None:
        raise Conflict("this policy was not created through a quote: there is no call to sign", id=policy.id)
    terms = quote_terms(policy, contracts.registry)
    # The only STX that moves is the premium, from the buyer to the vault: deny everything else.
    return prepare_contract_call(
        contract_id=contracts.registry,
        function_name=CREATE_FUNCTION,
        function_args=terms.entry_args(bytes.fromhex(policy.quote_signature)),
        post_conditions=[StxPostCondition(policy.owner, "eq", policy.premium_ustx)],
        post_condition_mode=PostConditionMode.DENY,
        network=contracts.network,
    )


class CreationService:
    def __init__(
        self,
        store: MongoStore,
        policies: PolicyRepository,
        quotes: QuoteService,
        liquidity: LiquidityService,
        quote_signer: HashSigner,
        contracts: ChainContracts,
        accounts: AccountReader | None = None,
        wallet_bounds: WalletBounds | None = None,
    ) -> None:
        self._store = store
        self._policies = policies
        self._quotes = quotes
        self._liquidity = liquidity
        self._signer = quote_signer
        self.contracts = contracts
        # Without an account reader (unit tests of the flow only) wallets are not checked; the app always has one.
        self._accounts = accounts
        self.wallet_bounds = wallet_bounds or WalletBounds()

    @staticmethod
    async def _balance(accounts: AccountReader, owner: str) -> int:
        """The owner's STX balance on chain; CHAIN_UNAVAILABLE when it cannot be read (never reserve blindly)."""
        try:
            return (await accounts.get_account(owner)).balance
        except ChainNotFound as exc:  # a node answers every valid principal: a 404 is a broken API
            raise ChainUnavailable("the Stacks API did not answer for the wallet's account; retry shortly") from exc
        except ChainError as exc:
            raise ChainUnavailable("the Stacks API is unavailable; retry shortly") from exc

    @staticmethod
    def check_request(idempotency_key: str, quote_id: str | None) -> None:
        """The request's strings, before any lookup (BAD_INPUT): callers may check them before anything else."""
        bounded(idempotency_key, "idempotencyKey", IDEMPOTENCY_KEY)
        if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise BadInput("idempotencyKey must be 1-64 characters of A-Z a-z 0-9 . _ : -", field="idempotencyKey")
        if quote_id is not None:
            check_quote_id(quote_id)

    @staticmethod
    def check_submission(policy_id: str, tx_id: str) -> None:
        parse_object_id(policy_id)
        bounded(tx_id, "txId", TXID)
        if not _TXID.fullmatch(tx_id):
            raise BadInput("txId must be a transaction id: 64 hex characters, optionally 0x-prefixed", field="txId")

    async def request_creation(
        self, owner: str, params: PolicyParameters, idempotency_key: str, quote_id: str | None = None
    ) -> CreationResult:
        self.check_request(idempotency_key, quote_id)
        fingerprint = request_hash(owner, params, quote_id)
        existing = await self._policies.find_by_idempotency_key(owner, idempotency_key)
        if existing is not None:
            return await self._repeat(existing, params, fingerprint)
        quote = await self._binding_quote(params, quote_id)
        wallet = None
        if self._accounts is not None:
            wallet = (self.wallet_bounds, await self._balance(self._accounts, owner))
        policy = self._new_policy(owner, quote, idempotency_key, fingerprint)

        async def work(session: AsyncClientSession) -> PolicyRecord:
            # The binding quote is kept with the policy for good (no `expires_at`, so no TTL clean-up).
            if quote_id is not None:
                await self._quotes.claim(quote.quote_id, policy.id, session)
            else:
                await self._quotes.save(quote, used_by=policy.id, session=session)
            await self._liquidity.reserve(
                session,
                quote_id=quote.quote_id,
                tier=quote.tier,
                amount_ustx=quote.collateral_ustx,
                policy_id=policy.id,
                owner=owner,
                expires_burn_height=quote.quote_expiry_height,
                burn_height=quote.burn_height,
                premium_ustx=quote.premium_ustx,
                wallet=wallet,
            )
            return await self._policies.insert(policy, Cause.REQUEST, {"quoteId": quote.quote_id}, session=session)

        try:
            stored = await self._store.transaction(work)
        except (Conflict, QuotaExceeded, InsufficientFunds, InsufficientCapacity):
            # A concurrent request with the same key won: answer as a repeat. Its winner is seen by the key's unique
            # index (Conflict), or earlier, once this transaction ran again after losing the wallet's or the tier's
            # lock: the winner's reservation then counts against this request's own bounds.
            again = await self._policies.find_by_idempotency_key(owner, idempotency_key)
            if again is not None:
                return await self._repeat(again, params, fingerprint)
            raise
        log.info(
            "policy requested",
            extra={"policy_id": stored.id, "action": "request_creation", "quote_id": quote.quote_id, "owner": owner},
        )
        return CreationResult(stored, quote, prepared_creation_call(stored, self.contracts), repeated=False)

    async def _binding_quote(self, params: PolicyParameters, quote_id: str | None) -> Quote:
        if quote_id is None:
            return await self._quotes.quote(params, store=False)
        quote = await self._quotes.load(quote_id)
        if quote.parameters != params:
            raise BadInput("the quote was priced for other parameters", field="quoteId", quoteId=quote_id)
        if await self._quotes.burn_height() > quote.quote_expiry_height:
            raise BadInput("the quote has expired; request a new one", field="quoteId", quoteId=quote_id)
        return quote

    def _new_policy(self, owner: str, quote: Quote, idempotency_key: str, fingerprint: str) -> PolicyRecord:
        now = now_utc()
        unsigned = PolicyRecord(
            id=new_policy_id(),
            owner=owner,
            counterparty=self.contracts.vault,
            policy_type=PolicyType.PUT,
            protected_value_usd8=quote.parameters.protected_value_usd8,
            protected_amount_sats=quote.parameters.protected_amount_sats,
            expiration_height=quote.expiration_height,
            risk_tier=quote.tier,
            premium_ustx=quote.premium_ustx,
            collateral_ustx=quote.collateral_ustx,
            status_detailed=StatusDetailed.PendingCreation,
            quote_id=quote.quote_id,
            quote_expiry_height=quote.quote_expiry_height,
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
            created_at=now,
            updated_at=now,
            expiration_time_estimate=quote.expiration_time_estimate,
            oracle_snapshot_creation=quote.snapshot(),
        )
        signature = sign_quote(self._signer, quote_terms(unsigned, self.contracts.registry))
        return unsigned.model_copy(update={"quote_signature": signature.hex()})

    async def _repeat(self, policy: PolicyRecord, params: PolicyParameters, fingerprint: str) -> CreationResult:
        if policy.request_hash is not None:  # the key is bound to the whole request it first came with
            same = policy.request_hash == fingerprint
        else:  # a policy stored before requests were hashed: the terms it kept
            same = (
                policy.protected_amount_sats == params.protected_amount_sats
                and policy.protected_value_usd8 == params.protected_value_usd8
                and (params.risk_tier is None or params.risk_tier == policy.risk_tier)
            )
        if not same:
            raise Conflict(
                "this idempotency key was already used for a different policy request",
                field="idempotencyKey",
                policyId=policy.id,
            )
        quote = await self._quotes.load(policy.quote_id or "")
        return CreationResult(policy, quote, prepared_creation_call(policy, self.contracts), repeated=True)

    async def submit_creation_tx(self, owner: str, policy_id: str, tx_id: str) -> PolicyRecord:
        """Record the creation transaction the wallet broadcast, so the monitor can follow it."""
        self.check_submission(policy_id, tx_id)
        txid = "0x" + tx_id.lower().removeprefix("0x")
        policy = await self._policies.get(policy_id)
        if policy is None or not is_visible(policy, owner):
            # Another wallet's creation not on chain yet answers exactly as a policy that does not exist.
            raise NotFound(f"policy {policy_id} does not exist", id=policy_id)
        if policy.owner != owner:
            raise Forbidden("only the policy's owner can report its creation transaction", id=policy_id)
        if policy.tx_id_creation == txid:
            return policy
        if policy.tx_id_creation is not None:
            raise Conflict(
                "a different creation transaction was already reported for this policy",
                id=policy_id,
                txIdCreation=policy.tx_id_creation,
            )
        if policy.status_detailed is not StatusDetailed.PendingCreation:
            raise Conflict(f"the policy is {policy.status_detailed.value}, not PendingCreation", id=policy_id)
        return await self._policies.update_fields(policy, {"tx_id_creation": txid}, Cause.REQUEST, {"txId": txid})
