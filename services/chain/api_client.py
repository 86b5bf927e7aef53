"""Async client of the Stacks node / Hiro API surface the service uses (DESIGN §11).

Transport failures, timeouts, 5xx and 429 are retried a bounded number of times with exponential backoff and
full jitter (429 honours ``retry-after``); when the budget is spent the caller gets ``StacksApiUnavailable``.
Answers that do not have the documented shape raise ``ChainProtocolError``. No raw ``httpx`` or ``json``
exception escapes. The API key (``x-api-key``) is sent as a header and never logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx

from .c32 import parse_principal
from .clarity import ClarityValue, deserialize, to_hex
from .errors import (
    REJECTION_TYPES,
    AddressError,
    BroadcastRejected,
    ChainNotFound,
    ChainProtocolError,
    ClarityDecodeError,
    CursorNotFound,
    ReadOnlyCallError,
    StacksApiUnavailable,
)

log = logging.getLogger(__name__)

FINAL_SUCCESS = "success"
PENDING = "pending"


def normalize_txid(txid: str) -> str:
    """``0x`` + 64 lowercase hex: the form Hiro's API uses in every payload."""
    text = txid.strip().lower()
    text = text[2:] if text.startswith("0x") else text
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError("a txid is 32 bytes of hex")
    return "0x" + text


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4  # total tries per request
    base_delay: float = 0.25
    max_delay: float = 4.0
    max_retry_after: float = 30.0  # never sleep longer than this on a 429

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^attempt)]."""
        return random.uniform(0, min(self.max_delay, self.base_delay * (2**attempt)))


# Typed answers -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StacksTip:
    block_height: int
    block_hash: str
    index_block_hash: str | None
    burn_block_height: int


@dataclass(frozen=True, slots=True)
class NodeInfo:
    stacks_tip_height: int
    burn_block_height: int
    network_id: int | None
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class BlockInfo:
    height: int
    hash: str
    index_block_hash: str | None
    burn_block_height: int
    burn_block_hash: str | None
    canonical: bool


@dataclass(frozen=True, slots=True)
class TransactionInfo:
    tx_id: str
    tx_status: str  # pending | success | abort_by_response | abort_by_post_condition | dropped_*
    tx_type: str | None
    tx_result_hex: str | None
    block_height: int | None
    block_hash: str | None
    burn_block_height: int | None
    canonical: bool | None
    nonce: int | None
    sender_address: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def result(self) -> ClarityValue | None:
        """The decoded ``tx_result`` (from hex, never from repr)."""
        if not self.tx_result_hex:
            return None
        try:
            return deserialize(self.tx_result_hex)
        except ClarityDecodeError as exc:
            raise ChainProtocolError(f"tx_result of {self.tx_id} is not a Clarity value") from exc

    @property
    def is_pending(self) -> bool:
        return self.tx_status == PENDING


@dataclass(frozen=True, slots=True)
class AccountInfo:
    balance: int
    locked: int
    nonce: int


@dataclass(frozen=True, slots=True)
class NonceInfo:
    possible_next_nonce: int
    last_executed_tx_nonce: int | None = None
    last_mempool_tx_nonce: int | None = None
    detected_missing_nonces: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ContractLogEvent:
    tx_id: str
    event_index: int
    contract_id: str
    topic: str
    value_hex: str

    @property
    def value(self) -> ClarityValue:
        try:
            return deserialize(self.value_hex)
        except ClarityDecodeError as exc:
            raise ChainProtocolError(f"log {self.tx_id}#{self.event_index} is not a Clarity value") from exc


@dataclass(frozen=True, slots=True)
class ContractLogPage:
    """One page, newest first. ``next_cursor`` is opaque: pass it back to get the next (older) page."""

    events: tuple[ContractLogEvent, ...]
    next_cursor: str | None
    source: Literal["v2", "v1"]
    total: int | None = None


# Payload helpers -----------------------------------------------------------------------------------------


def _field(obj: Any, name: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    if not isinstance(obj, dict):
        raise ChainProtocolError(f"expected a JSON object holding {name!r}")
    value = obj.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) and kind is int:
        raise ChainProtocolError(f"{name!r} is a boolean, expected an integer")
    if not isinstance(value, kind):
        raise ChainProtocolError(f"{name!r} missing or of the wrong type")
    return value


def _int_from_hex_or_int(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.startswith("0x") else int(value)
        except ValueError:
            pass
    raise ChainProtocolError(f"{name!r} is not an integer")


def _parse_log_row(row: Any) -> ContractLogEvent:
    log_obj = _field(row, "contract_log", dict)
    value = _field(log_obj, "value", dict)
    return ContractLogEvent(
        tx_id=normalize_txid(_field(row, "tx_id", str)),
        event_index=_field(row, "event_index", int),
        contract_id=_field(log_obj, "contract_id", str),
        topic=_field(log_obj, "topic", str),
        value_hex=_field(value, "hex", str),
    )


def _parse_transaction(data: Any) -> TransactionInfo:
    result = data.get("tx_result") if isinstance(data, dict) else None
    tx_id = _field(data, "tx_id", str)
    try:
        tx_id = normalize_txid(tx_id)
    except ValueError as exc:
        raise ChainProtocolError("tx_id is not a txid") from exc
    return TransactionInfo(
        tx_id=tx_id,
        tx_status=_field(data, "tx_status", str),
        tx_type=_field(data, "tx_type", str, optional=True),
        tx_result_hex=result.get("hex") if isinstance(result, dict) else None,
        block_height=_field(data, "block_height", int, optional=True),
        block_hash=_field(data, "block_hash", str, optional=True),
        burn_block_height=_field(data, "burn_block_height", int, optional=True),
        canonical=_field(data, "canonical", bool, optional=True),
        nonce=_field(data, "nonce", int, optional=True),
        sender_address=_field(data, "sender_address", str, optional=True),
        raw=data,
    )


def _split_contract_id(contract_id: str) -> tuple[str, str]:
    try:
        address, name = parse_principal(contract_id)
    except AddressError as exc:
        raise ValueError(f"invalid contract id: {exc}") from exc
    if name is None:
        raise ValueError("contract id must be ADDRESS.contract-name")
    return str(address), name


# The client ----------------------------------------------------------------------------------------------


class StacksApiClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"accept": "application/json", "user-agent": "bithedge-policy-registry"}
        if api_key:
            headers["x-api-key"] = api_key
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            # plain-http endpoints (a local node or devnet) never use TLS: skip loading the CA bundle
            verify=not base_url.startswith("http://"),
        )
        self._retry = retry or RetryPolicy()
        self._v2_logs_available = True
        self.base_url = base_url.rstrip("/")
        # requests sent, retries after a transient failure, requests that gave up (StacksApiUnavailable): /metrics
        self.metrics: dict[str, int] = {"requests": 0, "retries": 0, "unavailable": 0}

    def __repr__(self) -> str:
        return f"StacksApiClient(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> StacksApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # transport -------------------------------------------------------------------------------------------

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("retry-after")
        delay: float | None = None
        if header:
            try:
                delay = float(header)
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(header)
                    delay = when.timestamp() - time.time()
                except (TypeError, ValueError):
                    delay = None
        if delay is None:
            delay = self._retry.backoff(attempt)
        return max(0.0, min(delay, self._retry.max_retry_after))

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        last_problem = "no attempt made"
        for attempt in range(self._retry.attempts):
            last = attempt == self._retry.attempts - 1
            self.metrics["requests"] += 1
            self.metrics["retries"] += int(attempt > 0)
            try:
                response = await self._http.request(
                    method, path, params=params, json=json_body, content=content, headers=headers
                )
            except httpx.TimeoutException:
                last_problem = "timeout"
            except httpx.TransportError as exc:
                last_problem = f"connection error ({type(exc).__name__})"
            except httpx.HTTPError as exc:
                raise StacksApiUnavailable(f"{method} {path}: {type(exc).__name__}") from None
            else:
                if response.status_code == 429:
                    last_problem = "rate limited (429)"
                    if not last:
                        delay = self._retry_after(response, attempt)
                        log.warning("stacks api %s %s rate limited; retrying in %.2fs", method, path, delay)
                        await asyncio.sleep(delay)
                        continue
                elif response.status_code >= 500:
                    last_problem = f"server error {response.status_code}"
                else:
                    return response
            if not last:
                delay = self._retry.backoff(attempt)
                log.warning(
                    "stacks api %s %s failed (%s); retry %d in %.2fs", method, path, last_problem, attempt + 1, delay
                )
                await asyncio.sleep(delay)
        self.metrics["unavailable"] += 1
        raise StacksApiUnavailable(f"{method} {path}: {last_problem} after {self._retry.attempts} attempts")

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ChainProtocolError(
                f"{response.request.method} {response.request.url.path}: malformed JSON (status {response.status_code})"
            ) from None

    def _expect_ok(self, response: httpx.Response, what: str) -> Any:
        if response.status_code == 404:
            raise ChainNotFound(f"{what} not found")
        if response.status_code != 200:
            raise ChainProtocolError(f"{what}: unexpected status {response.status_code}")
        return self._json(response)

    # endpoints -------------------------------------------------------------------------------------------

    async def get_tip(self) -> StacksTip:
        """``GET /extended``: the indexed chain tip."""
        data = self._expect_ok(await self._request("GET", "/extended"), "api status")
        tip = _field(data, "chain_tip", dict)
        return StacksTip(
            block_height=_field(tip, "block_height", int),
            block_hash=_field(tip, "block_hash", str),
            index_block_hash=_field(tip, "index_block_hash", str, optional=True),
            burn_block_height=_field(tip, "burn_block_height", int),
        )

    async def get_node_info(self) -> NodeInfo:
        """``GET /v2/info``."""
        data = self._expect_ok(await self._request("GET", "/v2/info"), "node info")
        return NodeInfo(
            stacks_tip_height=_field(data, "stacks_tip_height", int),
            burn_block_height=_field(data, "burn_block_height", int),
            network_id=_field(data, "network_id", int, optional=True),
            raw=data,
        )

    async def get_transaction(self, txid: str) -> TransactionInfo:
        """``GET /extended/v1/tx/{txid}``; ``ChainNotFound`` when the API has never seen it."""
        tx = normalize_txid(txid)
        data = self._expect_ok(await self._request("GET", f"/extended/v1/tx/{tx}"), f"transaction {tx}")
        return _parse_transaction(data)

    async def get_block(self, height_or_hash: int | str) -> BlockInfo:
        """``GET /extended/v2/blocks/{height_or_hash}``."""
        key = str(height_or_hash)
        data = self._expect_ok(await self._request("GET", f"/extended/v2/blocks/{quote(key, safe='')}"), f"block {key}")
        return BlockInfo(
            height=_field(data, "height", int),
            hash=_field(data, "hash", str),
            index_block_hash=_field(data, "index_block_hash", str, optional=True),
            burn_block_height=_field(data, "burn_block_height", int),
            burn_block_hash=_field(data, "burn_block_hash", str, optional=True),
            canonical=_field(data, "canonical", bool),
        )

    async def get_account(self, principal: str) -> AccountInfo:
        """``GET /v2/accounts/{principal}?proof=0`` (balance and locked are hex u128 strings)."""
        data = self._expect_ok(await self._request("GET", f"/v2/accounts/{principal}", params={"proof": 0}), "account")
        return AccountInfo(
            balance=_int_from_hex_or_int(_field(data, "balance", (str, int)), "balance"),
            locked=_int_from_hex_or_int(data.get("locked", 0), "locked"),
            nonce=_field(data, "nonce", int),
        )

    async def get_nonces(self, principal: str) -> NonceInfo:
        """``possible_next_nonce`` from ``/extended/v1/address/{p}/nonces`` (mempool-aware), falling back to
        the node's account nonce when the extended route is absent."""
        response = await self._request("GET", f"/extended/v1/address/{principal}/nonces")
        if response.status_code in (404, 410, 501):
            account = await self.get_account(principal)
            return NonceInfo(possible_next_nonce=account.nonce)
        data = self._expect_ok(response, "nonces")
        missing = data.get("detected_missing_nonces") or []
        if not isinstance(missing, list) or not all(isinstance(n, int) for n in missing):
            raise ChainProtocolError("detected_missing_nonces is not a list of integers")
        return NonceInfo(
            possible_next_nonce=_field(data, "possible_next_nonce", int),
            last_executed_tx_nonce=_field(data, "last_executed_tx_nonce", int, optional=True),
            last_mempool_tx_nonce=_field(data, "last_mempool_tx_nonce", int, optional=True),
            detected_missing_nonces=tuple(missing),
        )

    async def broadcast_transaction(self, raw_tx: bytes) -> str:
        """``POST /v2/transactions``; returns the normalized txid or raises a typed ``BroadcastRejected``."""
        response = await self._request(
            "POST",
            "/v2/transactions",
            content=bytes(raw_tx),
            headers={"content-type": "application/octet-stream"},
        )
        if response.status_code == 200:
            data = self._json(response)
            if not isinstance(data, str):
                raise ChainProtocolError("broadcast answered 200 without a txid string")
            try:
                return normalize_txid(data)
            except ValueError:
                raise ChainProtocolError("broadcast answered 200 with a malformed txid") from None
        if response.status_code == 400:
            try:
                data = response.json()
            except ValueError:
                raise BroadcastRejected(f"transaction rejected: {response.text[:200]}") from None
            if not isinstance(data, dict):
                raise ChainProtocolError("broadcast rejection is not a JSON object")
            reason = str(data.get("reason") or "Other")
            cls = REJECTION_TYPES.get(reason, BroadcastRejected)
            raise cls(
                f"transaction rejected: {reason}",
                reason=reason,
                reason_data=data.get("reason_data"),
                txid=data.get("txid"),
            )
        raise ChainProtocolError(f"broadcast: unexpected status {response.status_code}")

    async def call_read_only(
        self,
        contract_id: str,
        function_name: str,
        arguments: Sequence[ClarityValue] = (),
        *,
        sender: str,
    ) -> ClarityValue:
        """``POST /v2/contracts/call-read/{addr}/{name}/{fn}`` → the decoded result value."""
        address, name = _split_contract_id(contract_id)
        response = await self._request(
            "POST",
            f"/v2/contracts/call-read/{address}/{name}/{quote(function_name, safe='')}",
            json_body={"sender": sender, "arguments": [to_hex(arg) for arg in arguments]},
        )
        if response.status_code == 404:
            raise ChainNotFound(f"contract {contract_id} or function {function_name} not found")
        if response.status_code == 400:
            raise ReadOnlyCallError(response.text[:500])
        data = self._expect_ok(response, "read-only call")
        okay = _field(data, "okay", bool)
        if not okay:
            raise ReadOnlyCallError(str(data.get("cause", "unknown cause")))
        try:
            return deserialize(_field(data, "result", str))
        except ClarityDecodeError as exc:
            raise ChainProtocolError(f"read-only result is not a Clarity value: {exc}") from exc

    async def get_contract_logs(
        self, contract_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> ContractLogPage:
        """Contract print events, newest first. Uses the v2 cursor route; when it answers 404/410 (an API
        without it) falls back, for good, to the v1 offset route (its cursor is ``offset:N``)."""
        _split_contract_id(contract_id)
        if self._v2_logs_available and not (cursor or "").startswith("offset:"):
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            response = await self._request("GET", f"/extended/v2/smart-contracts/{contract_id}/logs", params=params)
            if response.status_code == 404 and cursor:
                body = response.text.lower()
                if "cursor" in body:
                    raise CursorNotFound(f"contract-logs cursor {cursor!r} not found")
            if response.status_code not in (404, 410):
                data = self._expect_ok(response, "contract logs")
                rows = _field(data, "results", list)
                next_cursor = data.get("next_cursor")
                if next_cursor is not None and not isinstance(next_cursor, str):
                    raise ChainProtocolError("next_cursor is not a string")
                return ContractLogPage(
                    events=tuple(_parse_log_row(r) for r in rows if _is_log_row(r)),
                    next_cursor=next_cursor,
                    source="v2",
                    total=_field(data, "total", int, optional=True),
                )
            log.info("v2 contract-logs route answered %s; using the v1 events route", response.status_code)
            self._v2_logs_available = False
            cursor = None
        offset = 0
        if cursor:
            try:
                offset = int(cursor.removeprefix("offset:"))
            except ValueError:
                raise ValueError(f"invalid v1 cursor {cursor!r}") from None
        response = await self._request(
            "GET", f"/extended/v1/contract/{contract_id}/events", params={"limit": limit, "offset": offset}
        )
        data = self._expect_ok(response, "contract events")
        rows = _field(data, "results", list)
        return ContractLogPage(
            events=tuple(_parse_log_row(r) for r in rows if _is_log_row(r)),
            next_cursor=f"offset:{offset + len(rows)}" if len(rows) >= limit and rows else None,
            source="v1",
            total=_field(data, "total", int, optional=True),
        )

    async def estimate_fee(self, payload_hex: str, estimated_len: int) -> tuple[int, ...]:
        """``POST /v2/fees/transaction``: the node's (low, middle, high) fee estimates in micro-STX."""
        response = await self._request(
            "POST",
            "/v2/fees/transaction",
            json_body={"transaction_payload": payload_hex, "estimated_len": estimated_len},
        )
        if response.status_code in (400, 404):
            raise ChainNotFound("fee estimation unavailable")
        data = self._expect_ok(response, "fee estimate")
        estimations = _field(data, "estimations", list)
        fees = tuple(_field(e, "fee", int) for e in estimations)
        if not fees:
            raise ChainProtocolError("no fee estimations")
        return fees


def _is_log_row(row: Any) -> bool:
    """v1 event lists mix asset events with logs; only ``smart_contract_log`` rows are contract logs."""
    return isinstance(row, dict) and row.get("event_type", "smart_contract_log") == "smart_contract_log"
