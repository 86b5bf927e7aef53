"""Sign a sign-in message as a devnet demo wallet, for GraphiQL's `authenticate` (README walkthrough, step 1).

    .venv/bin/python examples/sign_message.py "<the authChallenge message>"        # wallet_1
    .venv/bin/python examples/sign_message.py --wallet wallet_2 "<message>"

Prints the variables `authenticate` takes: {"address", "publicKey", "signature"}. The devnet URL comes from
--devnet or $DEVNET (the `python3 dev.py up` banner prints an export line).
"""

from __future__ import annotations

import argparse
import json
import sys

from devnet_wallet import ExampleError, devnet_account, devnet_url, sign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sign a sign-in message with a devnet demo wallet's key.")
    parser.add_argument("message", help="the exact `message` authChallenge returned (quote it in the shell)")
    parser.add_argument("--wallet", default="wallet_1", help="Devnet.toml account name (default wallet_1)")
    parser.add_argument("--devnet", help="the devnet's URL (default: $DEVNET)")
    args = parser.parse_args(argv)
    try:
        account = devnet_account(devnet_url(args.devnet), args.wallet)
    except ExampleError as exc:
        print(f"sign_message: {exc}", file=sys.stderr)
        return 1
    message = args.message.replace("\\n", "\n")  # a message pasted from GraphiQL's JSON keeps its \n escapes
    variables = {"address": account.address, "publicKey": account.public_key, "signature": sign(account, message)}
    print(json.dumps(variables, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
