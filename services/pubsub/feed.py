"""The process's single change stream: `policies` and `chain_state` changes, whoever wrote them, to the broker.

The stream itself (one `watch` on the database, whole documents) is opened by services/store/changes.py. The
resume token is saved in `stream_tokens` under INSTANCE_ID (at most once a second, and on stop), so a restarted
process resumes where it stopped. After an error (database outage) the task reopens the stream from its last token
with capped exponential back-off. If the token is no longer usable (history lost), it
starts from now and re-reads the state of everything currently subscribed, so no live subscriber misses a
change (subscribers drop versions they have already seen).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from pymongo.errors import OperationFailure, PyMongoError

from services.core.models import PolicyRecord
from services.pubsub.broker import TIP_TOPIC, Broker, owner_topic, policy_topic
from services.pubsub.events import TipRecord
from services.store.changes import Changed, LiveChanges, classify
from services.store.documents import policy_from_document
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from services.store.stream_tokens import StreamTokenRepository

log = logging.getLogger(__name__)

# Resume tokens the server no longer accepts: history lost, fatal change stream error, unparseable or invalid.
_LOST_TOKEN_CODES = {9, 260, 280, 286}


class _StreamEnded(Exception):
    """The server closed the stream for good (an invalidate: the database or collection was dropped)."""


def newer_policy(new: PolicyRecord, old: PolicyRecord) -> bool:
    return new.version >= old.version


class ChangeFeed:
    def __init__(
        self,
        store: MongoStore,
        broker: Broker,
        instance_id: str,
        *,
        max_await_ms: int = 500,
        save_interval_s: float = 1.0,
        max_backoff_s: float = 10.0,
    ) -> None:
        self._changes = LiveChanges(store)
        self._policies = PolicyRepository(store)
        self._broker = broker
        self._tokens = StreamTokenRepository(store)
        self.instance_id = instance_id
        self._max_await_ms = max_await_ms
        self._save_interval_s = save_interval_s
        self._max_backoff_s = max_backoff_s
        self._task: asyncio.Task[None] | None = None
        self._token: dict[str, Any] | None = None
        self._saved_token: dict[str, Any] | None = None
        self._last_save = 0.0
        self._last_change_at: datetime | None = None
        self.ready = asyncio.Event()  # set while a stream is open
        self.restarts = 0
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._task = asyncio.create_task(self._run(), name=f"change-feed:{self.instance_id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.ready.clear()
        # Bounded: a stop during a database outage must not hang the shutdown.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._save(force=True), timeout=2.0)

    async def _run(self) -> None:
        self._token = await self._load_token()
        backoff = 0.5
        while True:
            try:
                await self._watch()
            except asyncio.CancelledError:
                raise
            except _StreamEnded:
                log.warning("change stream invalidated (database dropped?); reopening from now and resyncing")
                self._token = None
                await self._tokens_clear()
                await asyncio.sleep(0.5)
                await self._resync_after_gap()
            except OperationFailure as exc:
                if self._token is not None and exc.code in _LOST_TOKEN_CODES:
                    log.warning(
                        "change stream: resume token rejected (%s); restarting from now and resyncing", exc.code
                    )
                    self._token = None
                    await self._tokens_clear()
                    await self._resync_after_gap()
                    continue
                await self._pause(exc, backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
            except PyMongoError as exc:
                await self._pause(exc, backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
            except Exception as exc:  # a bug must not end live updates for good: log it and reopen
                log.exception("change stream: unexpected error; reopening")
                await self._pause(exc, backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
            else:
                backoff = 0.5

    async def _pause(self, exc: BaseException, delay: float) -> None:
        self.ready.clear()
        self.restarts += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "change stream interrupted (%s); reopening in %.1f s from the last token", type(exc).__name__, delay
        )
        await asyncio.sleep(delay)

    async def _watch(self) -> None:
        async with await self._changes.open_stream(self._token, self._max_await_ms) as stream:
            if self._token is None and stream.resume_token is not None:
                self._token = dict(stream.resume_token)
                await self._save(force=True)
            if self.last_error is not None:
                log.info("change stream reopened after: %s", self.last_error)
                self.last_error = None
            self.ready.set()
            while stream.alive:
                change = await stream.try_next()
                if change is not None:
                    try:
                        self._dispatch(change)
                    except Exception:  # never retry a change forever: it would stop every later one
                        log.exception("change stream: could not publish a change; skipped it")
                    await asyncio.sleep(0)  # a long batch must not starve the subscribers it feeds
                if stream.resume_token is not None:
                    self._token = dict(stream.resume_token)
                await self._save()
            raise _StreamEnded

    def _dispatch(self, change: dict[str, Any]) -> None:
        changed = classify(change)
        if changed is None:
            return  # a delete, or the document is gone by the time it was looked up
        kind, doc = changed
        if kind is Changed.POLICY:
            try:
                record = policy_from_document(doc)
            except ValidationError:
                log.warning("change stream: skipped a malformed policy document %s", doc.get("_id"))
                return
            self._last_change_at = record.updated_at
            self._broker.publish([policy_topic(record.id), owner_topic(record.owner)], record.id, record, newer_policy)
        else:
            try:
                tip = TipRecord.from_document(doc)
            except (KeyError, TypeError, ValueError):
                log.warning("change stream: skipped a malformed chain tip document")
                return
            self._broker.publish([TIP_TOPIC], TIP_TOPIC, tip)

    async def _resync_after_gap(self) -> None:
        """Re-read what live subscribers watch; they keep only versions newer than what they have seen."""
        try:
            since = None if self._last_change_at is None else self._last_change_at - timedelta(minutes=1)
            changed = self._policies.changed_in(self._broker.topics("policy:"), self._broker.topics("owner:"), since)
            async for record in changed:
                self._broker.publish(
                    [policy_topic(record.id), owner_topic(record.owner)], record.id, record, newer_policy
                )
            tip = await self._changes.tip()
            if tip is not None:
                self._broker.publish([TIP_TOPIC], TIP_TOPIC, TipRecord.from_document(tip))
        except Exception:
            log.exception("change stream: resync after a lost resume token failed")

    async def _load_token(self) -> dict[str, Any] | None:
        while True:
            try:
                token = await self._tokens.load(self.instance_id)
                self._saved_token = token
                if token is not None:
                    log.info("change stream resumes from the token saved for %s", self.instance_id)
                return token
            except PyMongoError as exc:
                await self._pause(exc, 1.0)

    async def _save(self, force: bool = False) -> None:
        token = self._token
        if token is None or token == self._saved_token:
            return
        now = time.monotonic()
        if not force and now - self._last_save < self._save_interval_s:
            return
        try:
            await self._tokens.save(self.instance_id, token)
        except PyMongoError as exc:
            if not force:
                raise
            log.warning("change stream: could not save the resume token on stop (%s)", type(exc).__name__)
            return
        self._saved_token = token
        self._last_save = now

    async def _tokens_clear(self) -> None:
        with contextlib.suppress(PyMongoError):
            await self._tokens.clear(self.instance_id)
        self._saved_token = None
