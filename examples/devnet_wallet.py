"""What the example scripts share: the devnet's demo accounts, a tiny GraphQL client, message signing.

The demo accounts' keys are public test keys that the local devnet serves at ``GET /devnet/accounts``; a real
wallet keeps its key to itself and signs in its own UI. Run the scripts with the project's Python
(``.venv/bin/python examples/…``): they use the service's own chain layer (``services.chain``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.chain.signing import sign_message

DEFAULT_API = "http://127.0.0.1:8000/graphql"


class ExampleError(RuntimeError):
    """A step failed; the message says which and why."""


@dataclass(frozen=True)
class Account:
    name: str
    address: str
    public_key: str
    private_key: str = field(repr=False)


def api_url(given: str | None) -> str:
    return given or os.environ.get("API") or DEFAULT_API


def devnet_url(given: str | None) -> str:
    url = given or os.environ.get("DEVNET")
    if not url:
        raise ExampleError("the devnet URL is needed: pass --devnet URL or export DEVNET (the banner prints it)")
    return url.rstrip("/")


def devnet_account(devnet: str, name: str) -> Account:
    """A demo account of the local devnet, with its (public, test-only) key."""
    try:
        listing = httpx.get(f"{devnet}/devnet/accounts", timeout=10).json()
    except httpx.HTTPError as exc:
        raise ExampleError(f"the devnet at {devnet} does not answer: {exc}") from exc
    for account in listing["accounts"]:
        if account["name"] == name:
            return Account(name, account["address"], account["public_key"], account["private_key"])
    names = ", ".join(a["name"] for a in listing["accounts"])
    raise ExampleError(f"no devnet account {name!r} (there are: {names})")


def sign(account: Account, message: str) -> str:
    """The RSV signature a Stacks wallet returns for "sign this message" (the key's first 32 bytes)."""
    return sign_message(bytes.fromhex(account.private_key[:64]), message)


def graphql(
    api: str, query: str, variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST one operation; returns `data` or raises with the errors' messages and codes."""
    try:
        response = httpx.post(api, json={"query": query, "variables": variables or {}}, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise ExampleError(f"the API at {api} does not answer: {exc}") from exc
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        problems = "; ".join(
            f"{e.get('message')} ({(e.get('extensions') or {}).get('code', '?')})" for e in body["errors"]
        )
        raise ExampleError(problems)
    data: dict[str, Any] = body["data"]
    return data


def sign_in(api: str, account: Account) -> str:
    """authChallenge → sign the message → authenticate; returns the session token."""
    challenge = graphql(
        api, "mutation($a: String!) { authChallenge(address: $a) { message } }", {"a": account.address}
    )["authChallenge"]
    data = graphql(
        api,
        "mutation($a: String!, $k: String!, $s: String!) { authenticate(address: $a, publicKey: $k, signature: $s)"
        " { token } }",
        {"a": account.address, "k": account.public_key, "s": sign(account, challenge["message"])},
    )
    token: str = data["authenticate"]["token"]
    return token
