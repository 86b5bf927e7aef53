"""Live updates: `policyUpdated`, `policiesUpdated`, `chainTip`.

Each subscription registers with the process's broker first and only then reads the current state, so no change
falls between the two; every message carries a whole object at a version and a subscriber never receives a
version it has already had (or an older one). See docs/subscriptions.md.

A change is published as one record object to every subscriber; each turns it into the same GraphQL object
(`_shared`), so the executor can run the selection once per change and operation (policy_registry/fanout.py).

Where the operation's transport offers a direct delivery (`resolvers.context.direct_delivery`), a subscription also
attaches a sink to its queue (`_Forward.direct`): while it waits for a change, a public record that passes its
version rule is delivered on the publisher's stack, with no task switch. Everything else (a pending creation, whose
audience check reads the session store; an item that arrives while the previous one is being sent; a delivery the
transport declines) takes the loop below, as before.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import strawberry

from resolvers.context import DirectDelivery, Info, direct_delivery
from resolvers.permissions import current_session
from schema.policy_types import Policy
from schema.subscription_types import ChainTip
from services.auth.models import Session
from services.auth.service import AuthService
from services.core.errors import NotFound
from services.core.models import PolicyRecord
from services.core.visibility import is_private, is_visible
from services.policies.principals import check_principal
from services.pubsub.events import TipRecord
from services.pubsub.subscriber import Subscriber

T = TypeVar("T")
R = TypeVar("R")


async def _io(call: Awaitable[T]) -> T:
    """Await a database call, then honour a cancellation that arrived meanwhile: PyMongo can absorb one (the
    client left during the read), and the subscription would then wait for its next change forever."""
    result = await call
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    return result


class _Shared:
    """The GraphQL object of each recently published record, built once and handed to every subscriber of it.
    Keyed by the record's identity (the broker publishes one object to all); an entry keeps its record alive so
    the identity is not reused while the entry lives."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[int, tuple[object, object]] = OrderedDict()

    def get(self, record: T, build: Callable[[T], R]) -> R:
        entry = self._entries.get(id(record))
        if entry is not None and entry[0] is record:
            return entry[1]  # type: ignore[return-value]  # built by `build` from this very record
        value = build(record)
        self._entries[id(record)] = (record, value)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value


_shared = _Shared(256)


def _policy(record: PolicyRecord) -> Policy:
    return _shared.get(record, Policy.from_record)


class _Audience:
    """What one subscriber may see: what the visibility rule (services.core.visibility) lets its session's address
    see, and private records only while that session lives. Callers check `is_private` first, so a public record
    costs no coroutine."""

    __slots__ = ("_auth", "_session")

    def __init__(self, auth: AuthService, session: Session | None) -> None:
        self._auth = auth
        self._session = session

    async def sees(self, record: PolicyRecord) -> bool:
        return not is_private(record) or await self.sees_private(record)

    async def sees_private(self, record: PolicyRecord) -> bool:
        if self._session is None or not is_visible(record, self._session.address):
            return False
        # Private details go out only while the session lives (the connection may outlast a sign-out).
        return await _io(self._auth.is_live(self._session))


class _Forward:
    """One subscription's version rule, shared by its loop and its direct sink: a policy's record goes out only if
    it is newer than the last version seen for that policy. One policy's subscription keeps that version alone,
    an owner's a map of them (a dict costs an idle subscriber ~0.2 KiB)."""

    __slots__ = ("_deliver", "_last", "_seen")

    def __init__(self, seen: dict[str, int] | None = None, last: int = -1) -> None:
        self._seen = seen  # None: one policy (its topic carries nothing else), last version in `_last`
        self._last = last
        self._deliver: DirectDelivery | None = direct_delivery.get()

    def _newer(self, record: PolicyRecord) -> bool:
        seen = self._seen
        return record.version > (self._last if seen is None else seen.get(record.id, -1))

    def _note(self, record: PolicyRecord) -> None:
        if self._seen is None:
            self._last = record.version
        else:
            self._seen[record.id] = record.version

    def fresh(self, record: PolicyRecord) -> bool:
        """Newer than what this subscription has seen of that policy; it now counts as seen."""
        if not self._newer(record):
            return False
        self._note(record)
        return True

    def attach(self, changes: Subscriber[PolicyRecord]) -> None:
        if self._deliver is not None:
            changes.direct = self.direct

    def direct(self, record: PolicyRecord) -> bool:
        """The queue's sink (services/pubsub/subscriber.py): True when the record needs nothing more (delivered, or
        not newer), False to queue it for the loop (pending creations: their audience check awaits a read)."""
        if not self._newer(record):
            return True  # the loop would skip it as well
        if is_private(record):
            return False
        assert self._deliver is not None
        if not self._deliver(_policy(record)):
            return False
        self._note(record)
        return True


async def _audience(info: Info) -> _Audience:
    return _Audience(info.context.services.auth, await _io(current_session(info)))


async def policy_updated(
    info: Info,
    id: strawberry.ID,
    since_version: int | None = None,
) -> AsyncGenerator[Policy, None]:
    """Each new version of a policy. With `sinceVersion`, the current version comes first if it is newer."""
    services = info.context.services
    policy_id = services.policy_queries.check_id(str(id))  # before registering anything
    audience = await _audience(info)
    del info  # the resolve info is not needed past this point: an idle subscriber need not keep it alive
    async with services.pubsub.policy_changes(policy_id) as changes:
        current = await _io(services.policy_queries.get(policy_id))
        if current is None or not await audience.sees(current):
            raise NotFound(f"policy {policy_id} does not exist", id=policy_id)
        forward = _Forward(last=current.version if since_version is None else since_version)
        if since_version is not None and forward.fresh(current):
            yield Policy.from_record(current)
        del current  # only its version counts from here on; an idle subscriber need not keep the whole record
        forward.attach(changes)
        while True:
            record = await changes.get()
            if forward.fresh(record) and (not is_private(record) or await audience.sees_private(record)):
                yield _policy(record)


async def policies_updated(
    info: Info,
    owner: str,
    since: datetime | None = None,
) -> AsyncGenerator[Policy, None]:
    """Every change of an owner's policies. With `since`, the policies changed after it (updated_at) come first."""
    owner = check_principal(owner, "owner")  # canonical: the spelling changes are published under
    audience = await _audience(info)
    pubsub = info.context.services.pubsub
    del info  # the resolve info is not needed past this point: an idle subscriber need not keep it alive
    async with pubsub.owner_changes(owner) as changes:
        forward = _Forward(seen={})
        if since is not None:
            moment = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
            for record in await _io(pubsub.changed_since(owner, moment)):
                forward.fresh(record)
                if await audience.sees(record):
                    yield Policy.from_record(record)
        forward.attach(changes)
        while True:
            record = await changes.get()
            if forward.fresh(record) and (not is_private(record) or await audience.sees_private(record)):
                yield _policy(record)


def _moves(tip: TipRecord, last: TipRecord | None) -> bool:
    """A tip worth sending: not a repeat of the last one (the listener rewrites it every poll) and not older."""
    if last is None:
        return True
    if (tip.stacks_height, tip.burn_height, tip.block_hash) == (last.stacks_height, last.burn_height, last.block_hash):
        return False
    return tip.updated_at is None or last.updated_at is None or tip.updated_at >= last.updated_at


async def chain_tip(info: Info) -> AsyncGenerator[ChainTip, None]:
    """The chain tip now (once the listener has written one), then each time it moves."""
    pubsub = info.context.services.pubsub
    async with pubsub.tip_changes() as changes:
        last: TipRecord | None = None
        current = await _io(pubsub.current_tip())
        if current is not None:
            last = current
            yield ChainTip.from_record(current)
        while True:
            tip = await changes.get()
            if _moves(tip, last):
                last = tip
                yield _shared.get(tip, ChainTip.from_record)
