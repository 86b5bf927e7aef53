"""Sign-in signatures from the reference libraries (Node, @stacks/encryption + @stacks/transactions), for tests."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import threading
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


class _NodeWallet:
    """One long-lived Node process answering a JSON line per request."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def ask(self, request: dict[str, object]) -> dict[str, object]:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    ["node", str(SCRIPT)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "CONTRACTS_DIR": str(CONTRACTS)},
                )
                atexit.register(self._proc.kill)
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
            if not line:
                error = self._proc.stderr.read() if self._proc.stderr else ""
                raise RuntimeError(f"the Node wallet stopped: {error[-2000:]}")
            answer: dict[str, object] = json.loads(line)
            return answer


_WALLET = _NodeWallet()


def wallet_sign(*ops: tuple[str, str, str]) -> list[WalletSignature]:
    """Sign each (message, private key, network) like a wallet does."""
    answer = _WALLET.ask({"ops": [{"message": m, "privateKey": k, "network": n} for m, k, n in ops]})
    results = answer["results"]
    assert isinstance(results, list)
    assert all(r["verified"] for r in results), "the reference verifier must accept its own signatures"
    return [WalletSignature(r["signature"], r["publicKey"], r["address"]) for r in results]


def wallet_address(private_key: str, network: str = "testnet") -> str:
    return wallet_sign(("-", private_key, network))[0].address
