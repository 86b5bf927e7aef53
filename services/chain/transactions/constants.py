"""Wire codes of the transaction format (``constants.ts``)."""

from __future__ import annotations

from enum import IntEnum
from typing import Literal


class AuthType(IntEnum):
    STANDARD = 0x04
    SPONSORED = 0x05


class HashMode(IntEnum):
    P2PKH = 0x00
    P2SH = 0x01
    P2WPKH = 0x02
    P2WSH = 0x03
    P2SH_NON_SEQUENTIAL = 0x05
    P2WSH_NON_SEQUENTIAL = 0x07


SINGLE_SIG_MODES = frozenset({HashMode.P2PKH, HashMode.P2WPKH})
MULTI_SIG_MODES = frozenset(
    {HashMode.P2SH, HashMode.P2WSH, HashMode.P2SH_NON_SEQUENTIAL, HashMode.P2WSH_NON_SEQUENTIAL}
)


class PubKeyEncoding(IntEnum):
    COMPRESSED = 0x00
    UNCOMPRESSED = 0x01


class AnchorMode(IntEnum):
    ON_CHAIN_ONLY = 0x01
    OFF_CHAIN_ONLY = 0x02
    ANY = 0x03


class PostConditionMode(IntEnum):
    ALLOW = 0x01
    DENY = 0x02
    ORIGINATOR = 0x03  # SIP-040, epoch 3.4


class PayloadType(IntEnum):
    TOKEN_TRANSFER = 0x00
    SMART_CONTRACT = 0x01
    CONTRACT_CALL = 0x02
    VERSIONED_SMART_CONTRACT = 0x06


FungibleComparator = Literal["eq", "gt", "gte", "lt", "lte"]
NonFungibleComparator = Literal["sent", "not-sent", "maybe-sent"]
FUNGIBLE_CODES: dict[str, int] = {"eq": 0x01, "gt": 0x02, "gte": 0x03, "lt": 0x04, "lte": 0x05}
NON_FUNGIBLE_CODES: dict[str, int] = {"sent": 0x10, "not-sent": 0x11, "maybe-sent": 0x12}
