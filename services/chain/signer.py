"""The backend's signing key, held so that it cannot leak: repr/str show the address only, it refuses to be
pickled or copied, and no error message ever contains key material."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import coincurve

from .c32 import address_from_public_key
from .errors import InvalidPrivateKey, SignatureError
from .signing import sign_hash_rsv
from .transactions import MAINNET, StacksNetwork, network_from

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _parse_key_hex(text: str) -> bytes:
    value = text.strip()
    if value[:2] in ("0x", "0X"):
        value = value[2:]
    if len(value) not in (64, 66):
        raise InvalidPrivateKey("private key must be 32 bytes of hex, or 33 with the 01 compression suffix")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise InvalidPrivateKey("private key is not hex") from None
    if len(raw) == 33:
        if raw[32] != 0x01:
            raise InvalidPrivateKey("a 33-byte private key must end with the 01 compression suffix")
        raw = raw[:32]
    if not 0 < int.from_bytes(raw, "big") < _SECP256K1_N:
        raise InvalidPrivateKey("private key is out of the secp256k1 range")
    return raw


class BackendSigner:
    """A secp256k1 key that signs hashes and transactions; its secret is never shown.

    Use :meth:`from_file`, :meth:`from_env` or :meth:`load`; the key file/variable holds hex (32 bytes, or
    33 with the 01 compression suffix as Stacks tooling writes it). Addresses are single-sig (P2PKH) of
    the compressed public key.
    """

    __slots__ = ("__key", "address", "network", "public_key")

    def __init__(self, private_key: bytes, network: str | StacksNetwork = MAINNET) -> None:
        if not isinstance(private_key, bytes) or len(private_key) not in (32, 33):
            raise InvalidPrivateKey("private key must be 32 bytes (or 33 with the 01 suffix)")
        if len(private_key) == 33 and private_key[32] != 0x01:
            raise InvalidPrivateKey("a 33-byte private key must end with the 01 compression suffix")
        secret = private_key[:32]
        if not 0 < int.from_bytes(secret, "big") < _SECP256K1_N:
            raise InvalidPrivateKey("private key is out of the secp256k1 range")
        self.__key = coincurve.PrivateKey(secret)
        self.network = network_from(network)
        self.public_key: bytes = bytes(self.__key.public_key.format(compressed=True))
        self.address: str = address_from_public_key(self.public_key, self.network.single_sig_version)

    @classmethod
    def from_hex(cls, text: str, network: str | StacksNetwork = MAINNET) -> BackendSigner:
        return cls(_parse_key_hex(text), network)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], network: str | StacksNetwork = MAINNET) -> BackendSigner:
        try:
            text = Path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidPrivateKey(f"cannot read the key file {os.fspath(path)!r}: {type(exc).__name__}") from None
        return cls.from_hex(text, network)

    @classmethod
    def from_env(cls, variable: str, network: str | StacksNetwork = MAINNET) -> BackendSigner:
        text = os.environ.get(variable)
        if not text:
            raise InvalidPrivateKey(f"environment variable {variable} is not set")
        return cls.from_hex(text, network)

    @classmethod
    def load(
        cls,
        *,
        file: str | os.PathLike[str] | None = None,
        env: str | None = None,
        network: str | StacksNetwork = MAINNET,
    ) -> BackendSigner:
        """From ``file`` when given, else from the environment variable ``env``."""
        if file:
            return cls.from_file(file, network)
        if env:
            return cls.from_env(env, network)
        raise InvalidPrivateKey("no key file or environment variable configured")

    def sign_hash_rsv(self, message_hash: bytes) -> bytes:
        if not isinstance(message_hash, bytes) or len(message_hash) != 32:
            raise SignatureError("message hash must be 32 bytes")
        return sign_hash_rsv(self.__key.secret, message_hash)

    def __repr__(self) -> str:
        return f"BackendSigner(address={self.address!r}, network={self.network.name!r})"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("BackendSigner holds a private key and cannot be pickled or copied")

    def __getstate__(self) -> NoReturn:
        raise TypeError("BackendSigner holds a private key and cannot be pickled or copied")
