"""The hash functions Stacks uses."""

from __future__ import annotations

import hashlib


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha512_256(data: bytes) -> bytes:
    """SHA-512/256 (FIPS 180-4), the hash of txids and sighashes."""
    return hashlib.new("sha512_256", data).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD160(SHA256(data)), the hash behind single-sig addresses."""
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()
