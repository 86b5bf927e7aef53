"""Which Stacks addresses may sign in on the configured network."""

from __future__ import annotations

from typing import Literal

from services.chain.c32 import AddressVersion, StacksAddress, decode_address
from services.chain.errors import AddressError
from services.core.errors import BadInput
from services.core.input_bounds import STANDARD_PRINCIPAL, bounded

Network = Literal["devnet", "testnet", "mainnet"]


def single_sig_version(network: Network) -> AddressVersion:
    """devnet and testnet use testnet addresses (ST…), mainnet uses SP…."""
    return AddressVersion.MAINNET_SINGLE_SIG if network == "mainnet" else AddressVersion.TESTNET_SINGLE_SIG


def sign_in_address(address: str, network: Network) -> StacksAddress:
    """Parse `address` and check it can sign in here: a single-signature address of this network."""
    if isinstance(address, str):
        bounded(address, "address", STANDARD_PRINCIPAL)
    try:
        parsed = decode_address(address.strip().upper()) if isinstance(address, str) else None
    except AddressError as exc:
        raise BadInput(f"address is not a valid Stacks address: {exc}", field="address") from exc
    if parsed is None:
        raise BadInput("address is not a valid Stacks address", field="address")
    expected = single_sig_version(network)
    if parsed.version == expected:
        return parsed
    if parsed.version in (AddressVersion.MAINNET_MULTI_SIG, AddressVersion.TESTNET_MULTI_SIG):
        raise BadInput("sign-in needs a single-signature address (a wallet account)", field="address")
    kind = "mainnet" if parsed.is_mainnet else "testnet"
    raise BadInput(f"address is a {kind} address but this service runs on {network}", field="address", network=network)
