"""A command-line wallet for the devnet demo accounts: what a browser wallet does in the README's walkthrough.

    .venv/bin/python examples/wallet.py sign-in                         # prints a session token for wallet_1
    .venv/bin/python examples/wallet.py send --policy ID --transaction '<requestPolicyCreation.transaction>'
    .venv/bin/python examples/wallet.py buy --sats 10000000 --strike-usd 95000 --days 30

`send` signs the prepared `create-policy-entry` call exactly as the API returned it (arguments,
post-conditions, deny mode) with the wallet's key through the service's own chain layer (services.chain),
broadcasts it to the devnet, prints the txid and reports it with `submitPolicyCreationTx` (signing in first
unless --token or $TOKEN is given). `buy` does the whole purchase: sign in, requestPolicyCreation, send.

URLs: --api / $API (default http://127.0.0.1:8000/graphql) and --devnet / $DEVNET (the banner of
`python3 dev.py up` prints an export line for both).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from typing import Any

import httpx
from devnet_wallet import Account, ExampleError, api_url, devnet_account, devnet_url, graphql, sign_in

from services.chain import BackendSigner, ClarityValue, deserialize, make_contract_call
from services.chain.transactions import PostConditionMode, StxPostCondition, network_from

FEE_USTX = 10_000  # 0.01 STX

REQUEST = """mutation Buy($input: PolicyParametersInput!, $key: String!) {
  requestPolicyCreation(input: $input, idempotencyKey: $key) {
    policy { id statusDetailed premiumUstx collateralUstx expirationHeight }
    transaction { contractAddress contractName functionName functionArgs postConditions postConditionMode network }
  }
}"""
SUBMIT = """mutation Submit($policyId: ID!, $txId: String!) {
  submitPolicyCreationTx(policyId: $policyId, txId: $txId) { id statusDetailed txIdCreation }
}"""


def _post_conditions(items: list[dict[str, Any]]) -> list[StxPostCondition]:
    conditions = []
    for item in items:
        if item.get("type") != "stx-postcondition":
            raise ExampleError(f"this example wallet signs STX post-conditions only, not {item.get('type')!r}")
        conditions.append(StxPostCondition(item["address"], item["condition"], int(item["amount"])))
    return conditions


def sign_prepared_call(account: Account, transaction: dict[str, Any], nonce: int, fee: int = FEE_USTX) -> bytes:
    """The wallet's signature over the prepared call: the serialized transaction, ready to broadcast."""
    network = network_from(transaction["network"])
    args: list[ClarityValue] = [deserialize(bytes.fromhex(a.removeprefix("0x"))) for a in transaction["functionArgs"]]
    mode = PostConditionMode.DENY if transaction["postConditionMode"] == "deny" else PostConditionMode.ALLOW
    tx = make_contract_call(
        contract_address=transaction["contractAddress"],
        contract_name=transaction["contractName"],
        function_name=transaction["functionName"],
        function_args=args,
        signer=BackendSigner.from_hex(account.private_key, network),
        nonce=nonce,
        fee=fee,
        network=network,
        post_condition_mode=mode,
        post_conditions=_post_conditions(transaction["postConditions"]),
    )
    return tx.serialize()


def broadcast(devnet: str, account: Account, transaction: dict[str, Any]) -> str:
    """Signs with the next nonce (mempool-aware, as wallets do) and sends to the node; returns the 0x txid."""
    nonces = httpx.get(f"{devnet}/extended/v1/address/{account.address}/nonces", timeout=10).json()
    raw = sign_prepared_call(account, transaction, int(nonces["possible_next_nonce"]))
    response = httpx.post(
        f"{devnet}/v2/transactions", content=raw, headers={"content-type": "application/octet-stream"}, timeout=30
    )
    if response.status_code != 200:
        raise ExampleError(f"the node refused the transaction: {response.text}")
    return "0x" + str(response.json()).removeprefix("0x")


def send(
    api: str, devnet: str, account: Account, policy_id: str, transaction: dict[str, Any], token: str | None
) -> str:
    txid = broadcast(devnet, account, transaction)
    print(f"broadcast {txid}", flush=True)
    headers = {"authorization": f"Bearer {token or sign_in(api, account)}"}
    policy = graphql(api, SUBMIT, {"policyId": policy_id, "txId": txid}, headers)["submitPolicyCreationTx"]
    print(f"reported to the API: policy {policy['id']} is {policy['statusDetailed']}, creation tx {txid}")
    return txid


def _read_transaction(text: str) -> dict[str, Any]:
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        with open(text[1:], encoding="utf-8") as fh:
            text = fh.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExampleError(f"--transaction is not JSON: {exc}") from exc
    # accept the whole requestPolicyCreation result too, not only its `transaction` object
    for key in ("data", "requestPolicyCreation", "transaction"):
        if isinstance(value, dict) and key in value and "functionArgs" not in value:
            value = value[key]
    if not isinstance(value, dict) or "functionArgs" not in value:
        raise ExampleError("--transaction must be the `transaction` object requestPolicyCreation returned")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A devnet demo wallet for the README walkthrough.")
    parser.add_argument("--wallet", default="wallet_1", help="Devnet.toml account name (default wallet_1)")
    parser.add_argument("--api", help="GraphQL endpoint (default: $API or http://127.0.0.1:8000/graphql)")
    parser.add_argument("--devnet", help="the devnet's URL (default: $DEVNET)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sign-in", help="authChallenge → sign → authenticate; print the session token")
    send_cmd = sub.add_parser("send", help="sign and broadcast a prepared creation call, report the txid")
    send_cmd.add_argument("--policy", required=True, help="the policy id requestPolicyCreation returned")
    send_cmd.add_argument(
        "--transaction", required=True, help="the `transaction` JSON object; '-' reads stdin, '@file' a file"
    )
    send_cmd.add_argument("--token", help="session token (default: $TOKEN, else sign in)")
    buy_cmd = sub.add_parser("buy", help="the whole purchase: sign in, requestPolicyCreation, send")
    buy_cmd.add_argument("--sats", type=int, default=10_000_000, help="BTC to protect, satoshis (default 0.1 BTC)")
    buy_cmd.add_argument("--strike-usd", type=int, default=95_000, help="strike in whole USD (default 95000)")
    buy_cmd.add_argument("--days", type=int, default=30, help="duration in days (default 30)")
    args = parser.parse_args(argv)
    try:
        api = api_url(args.api)
        devnet = devnet_url(args.devnet)
        account = devnet_account(devnet, args.wallet)
        if args.command == "sign-in":
            token = sign_in(api, account)
            print(f"signed in as {account.name} ({account.address})", file=sys.stderr)
            print(token)
        elif args.command == "send":
            send(
                api,
                devnet,
                account,
                args.policy,
                _read_transaction(args.transaction),
                args.token or os.environ.get("TOKEN"),
            )
        else:
            token = sign_in(api, account)
            params = {
                "protectedAmountSats": str(args.sats),
                "protectedValueUsd8": str(args.strike_usd * 100_000_000),
                "durationDays": args.days,
            }
            created = graphql(
                api,
                REQUEST,
                {"input": params, "key": f"cli-{uuid.uuid4().hex[:12]}"},
                {"authorization": f"Bearer {token}"},
            )["requestPolicyCreation"]
            policy = created["policy"]
            print(
                f"policy {policy['id']} {policy['statusDetailed']}: premium {policy['premiumUstx']} uSTX, "
                f"collateral {policy['collateralUstx']} uSTX, expires at burn height {policy['expirationHeight']}"
            )
            send(api, devnet, account, policy["id"], created["transaction"], token)
    except (ExampleError, httpx.HTTPError) as exc:
        print(f"wallet: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
