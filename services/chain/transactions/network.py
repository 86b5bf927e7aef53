"""Stacks networks: transaction version, chain id and address versions (``network.ts``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..c32 import AddressVersion


@dataclass(frozen=True, slots=True)
class StacksNetwork:
    name: str
    transaction_version: int
    chain_id: int
    single_sig_version: int
    multi_sig_version: int


MAINNET = StacksNetwork("mainnet", 0x00, 0x00000001, AddressVersion.MAINNET_SINGLE_SIG, 20)
TESTNET = StacksNetwork("testnet", 0x80, 0x80000000, AddressVersion.TESTNET_SINGLE_SIG, 21)
_NETWORKS = {"mainnet": MAINNET, "testnet": TESTNET, "devnet": TESTNET, "mocknet": TESTNET}


def network_from(name: str | StacksNetwork) -> StacksNetwork:
    if isinstance(name, StacksNetwork):
        return name
    try:
        return _NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown Stacks network {name!r}") from None
