"""Wallet sign-in against SecantusDB, with signatures made by the reference libraries (Node)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest

from services.auth.service import AuthService, ChallengeBounds
from services.auth.tokens import token_key
from services.chain.c32 import AddressVersion, encode_address
from services.core.clock import now_utc
from services.core.errors import BadInput, QuotaExceeded, Unauthenticated
from services.store.mongo import MongoStore

from .wallet import KEY_1, KEY_2, needs_node, wallet_sign

pytestmark = needs_node


class Clock:
    def __init__(self) -> None:
        self.now = now_utc()

    def __call__(self) -> datetime:
        return self.now


def service(store: MongoStore, clock: Clock, network: str = "testnet") -> AuthService:
    return AuthService(store, network, challenge_ttl_s=300, session_ttl_s=3600, clock=clock)  # type: ignore[arg-type]


async def test_sign_in_with_a_wallet_signature_opens_a_hashed_expiring_session(store: MongoStore) -> None:
    clock = Clock()
    auth = service(store, clock)
    [me] = wallet_sign(("-", KEY_1, "testnet"))
    challenge = await auth.challenge(me.address.lower())  # c32 is case-insensitive; the service answers canonically
    assert challenge.address == me.address
    assert me.address in challenge.message and "Network: testnet" in challenge.message
    assert challenge.expires_at == clock.now + timedelta(seconds=300)

    [signed] = wallet_sign((challenge.message, KEY_1, "testnet"))
    issued = await auth.authenticate(me.address, signed.public_key, signed.signature)
    assert issued.session.address == me.address and issued.session.public_key == signed.public_key
    assert issued.session.expires_at == clock.now + timedelta(hours=1)
    assert len(issued.token) >= 43  # 32 random bytes, URL-safe base64

    stored = await store.db.sessions.find_one({})
    assert stored is not None and stored["_id"] == hashlib.sha256(issued.token.encode()).hexdigest()
    assert issued.token not in str(stored)
    assert issued.token not in repr(issued) and issued.token not in repr(issued.session)

    assert (await auth.session(issued.token)).address == me.address
    clock.now += timedelta(hours=1)
    with pytest.raises(Unauthenticated):
        await auth.session(issued.token)  # expired


async def test_a_challenge_signs_in_once_and_only_before_it_expires(store: MongoStore) -> None:
    clock = Clock()
    auth = service(store, clock)
    [me] = wallet_sign(("-", KEY_1, "testnet"))
    first = await auth.challenge(me.address)
    second = await auth.challenge(me.address)
    [sig1, sig2] = wallet_sign((first.message, KEY_1, "testnet"), (second.message, KEY_1, "testnet"))

    await auth.authenticate(me.address, sig1.public_key, sig1.signature)
    with pytest.raises(Unauthenticated, match="no open challenge"):
        await auth.authenticate(me.address, sig1.public_key, sig1.signature)  # replayed

    clock.now += timedelta(seconds=301)
    with pytest.raises(Unauthenticated, match="no open challenge"):
        await auth.authenticate(me.address, sig2.public_key, sig2.signature)  # expired


async def test_the_key_must_be_the_addresses_and_the_signature_the_keys(store: MongoStore) -> None:
    auth = service(store, Clock())
    [me, other] = wallet_sign(("-", KEY_1, "testnet"), ("-", KEY_2, "testnet"))
    challenge = await auth.challenge(me.address)
    [by_other, by_me] = wallet_sign((challenge.message, KEY_2, "testnet"), (challenge.message, KEY_1, "testnet"))
    with pytest.raises(Unauthenticated, match="does not belong"):
        await auth.authenticate(me.address, other.public_key, by_other.signature)
    with pytest.raises(Unauthenticated, match="no open challenge"):
        await auth.authenticate(me.address, me.public_key, by_other.signature)
    tampered = by_me.signature[:10] + ("0" if by_me.signature[10] != "0" else "1") + by_me.signature[11:]
    with pytest.raises(Unauthenticated):
        await auth.authenticate(me.address, me.public_key, tampered)
    # the challenge survived the failures and still signs in its owner
    assert (await auth.authenticate(me.address, by_me.public_key, by_me.signature)).session.address == me.address


async def test_addresses_must_be_single_sig_addresses_of_the_configured_network(store: MongoStore) -> None:
    [testnet, mainnet] = wallet_sign(("-", KEY_1, "testnet"), ("-", KEY_1, "mainnet"))
    on_mainnet = service(store, Clock(), network="mainnet")
    with pytest.raises(BadInput, match="testnet address but this service runs on mainnet"):
        await on_mainnet.challenge(testnet.address)
    with pytest.raises(BadInput, match="testnet address"):
        await on_mainnet.authenticate(testnet.address, testnet.public_key, "00" * 65)
    challenge = await on_mainnet.challenge(mainnet.address)
    [signed] = wallet_sign((challenge.message, KEY_1, "mainnet"))
    assert (await on_mainnet.authenticate(mainnet.address, signed.public_key, signed.signature)).session.address == (
        mainnet.address
    )

    devnet = AuthService(store, "devnet", 300, 3600)
    with pytest.raises(BadInput, match="mainnet address"):
        await devnet.challenge(mainnet.address)
    with pytest.raises(BadInput, match="single-signature"):
        await devnet.challenge(encode_address(AddressVersion.TESTNET_MULTI_SIG, bytes(range(20))))
    for bad in ("", "nope", "ST0000", testnet.address[:-1] + ("A" if testnet.address[-1] != "A" else "B")):
        with pytest.raises(BadInput):
            await devnet.challenge(bad)


async def test_malformed_keys_and_signatures_are_bad_input(store: MongoStore) -> None:
    auth = service(store, Clock())
    [me] = wallet_sign(("-", KEY_1, "testnet"))
    for key in ("zz", "02" + "00" * 32, me.public_key[:-2]):
        with pytest.raises(BadInput, match="publicKey"):
            await auth.authenticate(me.address, key, "00" * 65)
    for signature in ("zz", "00" * 64, "0x" + "00" * 66):
        with pytest.raises(BadInput, match="signature"):
            await auth.authenticate(me.address, me.public_key, signature)


async def test_sign_out_revokes_the_session(store: MongoStore) -> None:
    auth = service(store, Clock())
    [me] = wallet_sign(("-", KEY_1, "testnet"))
    challenge = await auth.challenge(me.address)
    [signed] = wallet_sign((challenge.message, KEY_1, "testnet"))
    issued = await auth.authenticate(me.address, signed.public_key, signed.signature)
    session = await auth.session(issued.token)
    assert await auth.is_live(session)
    await auth.sign_out(session)
    assert not await auth.is_live(session)
    with pytest.raises(Unauthenticated):
        await auth.session(issued.token)
    assert await store.db.sessions.count_documents({"_id": token_key(issued.token), "revoked_at": {"$ne": None}}) == 1


async def test_open_challenges_are_bounded_and_none_is_evicted(store: MongoStore) -> None:
    # docs/security.md: a bound on open challenges refuses new ones, never drops an open one (that let anyone evict a
    # wallet's sign-in in progress by asking for challenges in its name).
    clock = Clock()
    auth = AuthService(
        store,
        "testnet",
        challenge_ttl_s=300,
        session_ttl_s=3600,
        clock=clock,
        challenge_bounds=ChallengeBounds(per_client=3, per_address=5),
    )
    [me, other] = wallet_sign(("-", KEY_1, "testnet"), ("-", KEY_2, "testnet"))
    challenges = [await auth.challenge(me.address, "10.0.0.1")]
    for client in ("10.0.0.2", "10.0.0.2", "10.0.0.2", "10.0.0.3"):
        clock.now += timedelta(milliseconds=5)
        challenges.append(await auth.challenge(me.address, client))
    with pytest.raises(QuotaExceeded) as per_client:  # a fourth open one for 10.0.0.2
        await auth.challenge(other.address, "10.0.0.2")
    assert per_client.value.details["limit"] == "challengesPerClient" and per_client.value.details["max"] == 3
    with pytest.raises(QuotaExceeded) as per_address:  # a sixth open one for the address
        await auth.challenge(me.address, "10.0.0.4")
    assert per_address.value.details["limit"] == "challengesPerAddress" and per_address.value.details["max"] == 5
    assert await store.db.auth_challenges.count_documents({"address": me.address}) == 5
    [oldest] = wallet_sign((challenges[0].message, KEY_1, "testnet"))
    issued = await auth.authenticate(me.address, oldest.public_key, oldest.signature, "10.0.0.1")
    assert issued.session.address == me.address
    clock.now += timedelta(seconds=301)  # once they expire, the bounds free up
    assert (await auth.challenge(me.address, "10.0.0.2")).address == me.address
