"""The longest string the API accepts for each kind of argument, checked before the value is parsed.

Every bound here follows from a format the service does not choose (a Stacks principal, a secp256k1 key or
signature, a MongoDB ObjectId, a transaction id) or from a format it fixed once for its clients (idempotency keys,
quote ids, page cursors, session tokens). A longer value can never be valid, so the bounds are constants rather
than settings: raising one would only let more bytes reach a parser that refuses them anyway. Checking the length
first keeps every parser's work bounded, whatever a client sends (docs/security.md, "Hostile clients").
"""

from __future__ import annotations

from services.core.errors import BadInput

# 'S' + version digit + c32 of hash160 and checksum (24 bytes: at most 39 digits).
STANDARD_PRINCIPAL = 41
# A standard principal + '.' + a contract name of at most 128 characters.
CONTRACT_PRINCIPAL = STANDARD_PRINCIPAL + 1 + 128
POLICY_ID = 24  # an ObjectId in hex
TXID = 66  # 32 bytes in hex, optionally 0x-prefixed
QUOTE_ID = 34  # 16 bytes in hex, optionally 0x-prefixed
IDEMPOTENCY_KEY = 64
CURSOR = 100  # base64 of "policy:v1:" + a policy id is 46 characters; room for a later version
PUBLIC_KEY = 132  # 65 bytes (uncompressed) in hex, optionally 0x-prefixed
SIGNATURE = 132  # 65 bytes (r, s, recovery id) in hex, optionally 0x-prefixed
SESSION_TOKEN = 128  # issued tokens are 43 characters (32 bytes, URL-safe base64)


def bounded(value: str, field: str, max_length: int) -> str:
    """`value` unchanged, or BAD_INPUT naming `field` and the bound when it is longer than `max_length`."""
    if len(value) > max_length:
        raise BadInput(f"{field} is longer than {max_length} characters", field=field, max=max_length)
    return value
