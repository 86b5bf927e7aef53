"""Sign-in signatures from the reference libraries (Node, @stacks/encryption + @stacks/transactions), for tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CONTRACTS = ROOT / "contracts"
SCRIPT = Path(__file__).with_name("wallet_sign.mjs")

# Test keys (compressed: the 01 suffix), never used anywhere else.
KEY_1 = "b8d99fd45da58038d630d9855d3ca2466e8e0f89d3894c4724f0efc9ff4b51f001"
KEY_2 = "6a1a754ba863d7bab14adbbc3f8ebb090af9e871ace621d3e5ab634e1422885e01"

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (CONTRACTS / "node_modules" / "@stacks" / "encryption").is_dir(),
    reason="needs Node and contracts/node_modules with @stacks/encryption (run `npm ci` in contracts/)",
)


@dataclass(frozen=True)
class WalletSignature:
    signature: str
    public_key: str
    address: str


def wallet_sign(*ops: tuple[str, str, str]) -> list[WalletSignature]:
    """Sign each (message, private key, network) like a wallet; one Node process for the batch."""
    request = {"ops": [{"message": m, "privateKey": k, "network": n} for m, k, n in ops]}
    answer = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "CONTRACTS_DIR": str(CONTRACTS)},
    )
    results = json.loads(answer.stdout)["results"]
    assert all(r["verified"] for r in results), "the reference verifier must accept its own signatures"
    return [WalletSignature(r["signature"], r["publicKey"], r["address"]) for r in results]


def wallet_address(private_key: str, network: str = "testnet") -> str:
    return wallet_sign(("-", private_key, network))[0].address
