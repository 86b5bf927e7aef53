"""Query benchmark: `policies(first: 50)` with each filter, `policy(id)` and `totalCount` over N policies, through
the whole HTTP stack (a real `policy-registry serve` process on loopback, httpx client), against the raw driver's
`find` / `find_one` / `count_documents` for the same page, in this process, on the same database.

    python -m bench.query            # full: 100,000 policies
    python -m bench.query --smoke    # 200 policies, 3 samples per figure (the test suite runs this)
    python -m bench.query --policies 10000 --only policy,count   # only some figures (default: all of them)
    python -m bench.query --policies 10000 --only lists,stats    # the list views: orders, statusIn, last, me, stats

Samples alternate GraphQL and raw so both see the same server state. Each GraphQL page is checked to hold
exactly the raw page's ids. The raw query is the repository's own (same filter document, sort, limit + 1 and
index hint); an extra raw row without the hint shows what the hint costs on this database. `policy(id)` is also
measured with a plain HTTP/1.1 client and as an in-process ASGI call, each beside `{ __typename }` (the same path
without a read), which splits its time into the client, the HTTP hop, the app and the read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import DESCENDING, AsyncMongoClient

from bench.common import Report, api_server, owners, policy_documents, say, secantus, summary_ms, workdir
from policy_registry.app import create_app
from policy_registry.settings import Settings
from services.auth.tokens import new_token, token_key
from services.core.models import RiskTier
from services.core.status import StatusDetailed
from services.store.indexes import ensure_indexes
from services.store.policy_filter import PolicyFilter
from services.store.policy_order import ORDERS, PolicyOrder
from services.store.policy_stats import STATS_INDEX, stats_pipeline

PAGE = 50
NODE_FIELDS = "id owner statusDetailed riskTier expirationHeight protectedValueUsd8 premiumUstx collateralUstx"
PAGE_QUERY = (
    "query($f: PolicyFilterInput, $o: PolicyOrder!, $first: Int, $last: Int) { "
    "policies(filter: $f, orderBy: $o, first: $first, last: $last) { "
    f"edges {{ cursor node {{ {NODE_FIELDS} }} }} pageInfo {{ hasNextPage hasPreviousPage endCursor }} }} }}"
)
ME_QUERY = (  # the signed-in wallet's own list (its pending creations included)
    "query($f: PolicyFilterInput, $o: PolicyOrder!, $first: Int) { me { policies(filter: $f, orderBy: $o, "
    f"first: $first) {{ edges {{ cursor node {{ {NODE_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}"
)
STATS_QUERY = (
    "{ stats { totals { policyCount } groups { riskTier statusDetailed policyCount protectedAmountSats "
    "collateralUstx premiumUstx } } }"
)
OPEN = ["Active", "Settling", "Expiring"]
COUNT_QUERY = "query($f: PolicyFilterInput) { policies(filter: $f, first: 1) { totalCount } }"
ONE_QUERY = f"query($id: ID!) {{ policy(id: $id) {{ {NODE_FIELDS} }} }}"
TYPENAME_QUERY = "{ __typename }"  # the whole request path without a database read
FIGURES = ("pages", "lists", "policy", "count", "stats")  # --only picks among these; the default runs all of them


@dataclass(frozen=True)
class Case:
    name: str
    variables: dict[str, Any]  # the GraphQL filter input
    flt: PolicyFilter  # what the resolver builds from it (anonymous caller: public_only)
    order: PolicyOrder = PolicyOrder.CREATED_AT_DESC
    backward: bool = False  # `last: 50` instead of `first: 50`
    me: bool = False  # `me { policies }` as the owner, signed in

    @property
    def label(self) -> str:
        if self.me:
            return f"me.policies(first: 50) {self.name}"
        return f"policies({'last' if self.backward else 'first'}: 50) {self.name}"

    def graphql_variables(self) -> dict[str, Any]:
        size = {"last": PAGE} if self.backward else {"first": PAGE}
        return {"f": self.variables, "o": self.order.value, **size}

    def raw_cursor(self, policies: Any, hint: bool = True) -> Any:
        """The repository's exact query for this page, on the raw driver."""
        cursor = policies.find(self.flt.query()).sort(ORDERS[self.order].sort(self.backward)).limit(PAGE + 1)
        return cursor.hint(self.flt.index_hint(self.order)) if hint else cursor


def cases(owner: str) -> list[Case]:
    def public(**kw: Any) -> PolicyFilter:
        return PolicyFilter(public_only=True, **kw)

    return [
        Case("none", {}, public()),
        Case("owner", {"owner": owner}, public(owner=owner)),
        Case(
            "owner+status",
            {"owner": owner, "statusDetailed": "Active"},
            public(owner=owner, status_detailed=StatusDetailed.Active),
        ),
        Case("statusDetailed", {"statusDetailed": "Active"}, public(status_detailed=StatusDetailed.Active)),
        Case("riskTier", {"riskTier": "Balanced"}, public(risk_tier=RiskTier.Balanced)),
        Case("expiresBefore", {"expiresBefore": 20_000}, public(expires_before=20_000)),
        Case(
            "expiresAfter+Before",
            {"expiresAfter": 30_000, "expiresBefore": 31_000},
            public(expires_after=30_000, expires_before=31_000),
        ),
    ]


def list_cases(owner: str) -> list[Case]:
    """The list-view shapes (docs/performance.md "List views"): statusIn, the other orders, backward pages, the
    wallet's own list."""
    open_statuses = frozenset(StatusDetailed(s) for s in OPEN)

    def public(**kw: Any) -> PolicyFilter:
        return PolicyFilter(public_only=True, **kw)

    expiration, premium = PolicyOrder.EXPIRATION_HEIGHT_ASC, PolicyOrder.PREMIUM_DESC
    return [
        Case("statusIn open", {"statusIn": OPEN}, public(status_in=open_statuses)),
        Case("owner+statusIn open", {"owner": owner, "statusIn": OPEN}, public(owner=owner, status_in=open_statuses)),
        Case("EXPIRATION_HEIGHT_ASC", {}, public(), expiration),
        Case("EXPIRATION_HEIGHT_ASC owner", {"owner": owner}, public(owner=owner), expiration),
        Case("EXPIRATION_HEIGHT_ASC statusIn open", {"statusIn": OPEN}, public(status_in=open_statuses), expiration),
        Case("PREMIUM_DESC", {}, public(), premium),
        Case("PREMIUM_DESC owner", {"owner": owner}, public(owner=owner), premium),
        Case("PREMIUM_DESC statusIn open", {"statusIn": OPEN}, public(status_in=open_statuses), premium),
        Case("CREATED_AT_DESC", {}, public(), backward=True),
        Case("PREMIUM_DESC", {}, public(), premium, backward=True),
        Case("EXPIRATION_HEIGHT_ASC owner", {"owner": owner}, public(owner=owner), expiration, backward=True),
        Case("CREATED_AT_DESC", {}, PolicyFilter(owner=owner, public_only=True, viewer=owner), me=True),
        Case(
            "EXPIRATION_HEIGHT_ASC statusIn open",
            {"statusIn": OPEN},
            PolicyFilter(owner=owner, public_only=True, viewer=owner, status_in=open_statuses),
            expiration,
            me=True,
        ),
    ]


async def sample(
    fn: Callable[[], Awaitable[Any]], n: int, budget_s: float, min_n: int = 3
) -> tuple[list[float], list[Any]]:
    times: list[float] = []
    results: list[Any] = []
    started = time.monotonic()
    while len(times) < n and (len(times) < min_n or time.monotonic() - started < budget_s):
        t0 = time.perf_counter()
        results.append(await fn())
        times.append(time.perf_counter() - t0)
    return times, results


async def paired(
    a: Callable[[], Awaitable[Any]], b: Callable[[], Awaitable[Any]], n: int, budget_s: float
) -> tuple[list[float], list[float], list[Any], list[Any]]:
    """Alternate a and b (a first, then b, ...) until n pairs or the budget (at least 3 pairs)."""
    ta: list[float] = []
    tb: list[float] = []
    ra: list[Any] = []
    rb: list[Any] = []
    started = time.monotonic()
    await a()
    await b()  # warm-up: connections, plan caches
    while len(ta) < n and (len(ta) < 3 or time.monotonic() - started < budget_s):
        for fn, times, results in ((a, ta, ra), (b, tb, rb)):
            t0 = time.perf_counter()
            results.append(await fn())
            times.append(time.perf_counter() - t0)
    return ta, tb, ra, rb


class InProcessApp:
    """The same app called as an ASGI callable in this process: no socket, no HTTP parsing, no client library.
    With the `{ __typename }` rows it splits `policy(id)`'s time into the read, the app and the HTTP hop."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def gql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"bench"),
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        request: list[dict[str, Any]] = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if request:
                return request.pop()
            await asyncio.Event().wait()  # a disconnect never comes: the app answers first
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        payload: dict[str, Any] = json.loads(
            b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        )
        if sent[0]["status"] != 200 or payload.get("errors"):
            raise RuntimeError(f"GraphQL error {sent[0]['status']}: {payload}")
        return payload["data"]  # type: ignore[no-any-return]


async def gql(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"GraphQL error {response.status_code}: {body}")
    return body["data"]  # type: ignore[no-any-return]


class PlainHttp:
    """One keep-alive HTTP/1.1 connection with no client library: a second `policy(id)` row measures the API
    without httpx's own per-request cost (about a millisecond or more of client CPU here, on top of a read that
    takes a few). The server sends Content-Length (Starlette responses always do)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader, self._writer, self._host = reader, writer, host

    @classmethod
    async def connect(cls, url: str) -> PlainHttp:
        parsed = httpx.URL(url)
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        return cls(reader, writer, f"{parsed.host}:{parsed.port}")

    async def gql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        head = (
            f"POST /graphql HTTP/1.1\r\nhost: {self._host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line, *lines = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines if ": " in line)
        payload: dict[str, Any] = json.loads(await self._reader.readexactly(int(headers["content-length"])))
        if " 200 " not in status_line or payload.get("errors"):
            raise RuntimeError(f"GraphQL error {status_line}: {payload}")
        return payload["data"]  # type: ignore[no-any-return]

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


def row(report: Report, name: str, graphql: list[float], raw: list[float], **extra: Any) -> None:
    g, r = summary_ms(graphql), summary_ms(raw)
    report.add(
        case=name,
        n=g["n"],
        graphql_p50_ms=g["p50_ms"],
        graphql_p99_ms=g["p99_ms"],
        raw_p50_ms=r["p50_ms"],
        raw_p99_ms=r["p99_ms"],
        ratio_p50=round(g["p50_ms"] / r["p50_ms"], 2) if r["p50_ms"] else None,
        ratio_p99=round(g["p99_ms"] / r["p99_ms"], 2) if r["p99_ms"] else None,
        **extra,
    )


async def seed(uri: str, database: str, n: int, report: Report) -> list[dict[str, Any]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    db = client[database]
    await ensure_indexes(db)
    docs = policy_documents(n, owners(max(10, n // 500)))
    started = time.perf_counter()
    for i in range(0, n, 1000):
        await db.policies.insert_many(docs[i : i + 1000], ordered=False)
    elapsed = time.perf_counter() - started
    report.extra["seed"] = {"policies": n, "seconds": round(elapsed, 1), "docs_per_s": round(n / elapsed)}
    say(f"inserted {n} policies in {elapsed:.1f}s ({n / elapsed:.0f}/s, insert_many batches of 1000)")
    await client.close()
    return docs


async def run(args: argparse.Namespace) -> dict[str, Any]:
    report = Report("query", "smoke" if args.smoke else "full")
    database = "bench_query"
    with workdir("query") as tmp, secantus(tmp) as mongo:
        docs = await seed(mongo.uri, database, args.policies, report)
        busiest = max({d["owner"] for d in docs}, key=lambda o: sum(1 for d in docs if d["owner"] == o))
        with api_server(mongo.uri, database, tmp) as api:
            say(f"API at {api.url} (pid {api.pid}); {args.samples} samples per figure, budget {args.budget_s}s each")
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri)
            policies = client[database].policies
            async with httpx.AsyncClient(base_url=api.url, timeout=600) as http:
                chosen = (cases(busiest) if "pages" in args.only else []) + (
                    list_cases(busiest) if "lists" in args.only else []
                )
                me_headers = {"authorization": f"Bearer {await open_session(client[database], busiest)}"}
                for case in chosen:

                    async def via_graphql(case: Case = case) -> list[str]:
                        if case.me:
                            data = await gql(http, ME_QUERY, case.graphql_variables(), me_headers)
                            return [e["node"]["id"] for e in data["me"]["policies"]["edges"]]
                        data = await gql(http, PAGE_QUERY, case.graphql_variables())
                        return [e["node"]["id"] for e in data["policies"]["edges"]]

                    async def via_driver(case: Case = case) -> list[str]:
                        docs = (await case.raw_cursor(policies).to_list(PAGE + 1))[:PAGE]
                        if case.backward:
                            docs.reverse()
                        return [str(d["_id"]) for d in docs]

                    async def unhinted(case: Case = case) -> list[str]:
                        docs = await case.raw_cursor(policies, hint=False).to_list(PAGE + 1)
                        return [str(d["_id"]) for d in docs[:PAGE]]

                    tg, tr, rg, rr = await paired(via_graphql, via_driver, args.samples, args.budget_s)
                    if rg[-1] != rr[-1]:
                        raise AssertionError(f"{case.label}: the GraphQL page differs from the driver's")
                    tu, _ = await sample(unhinted, 3, 0)
                    row(
                        report,
                        case.label,
                        tg,
                        tr,
                        items=len(rg[-1]),
                        index=case.flt.index_hint(case.order),
                        raw_unhinted_p50_ms=summary_ms(tu)["p50_ms"],
                    )

                if "stats" in args.only:

                    async def stats_graphql() -> list[tuple[str, str, int, str]]:
                        groups = (await gql(http, STATS_QUERY, {}))["stats"]["groups"]
                        return sorted(
                            (g["riskTier"], g["statusDetailed"], g["policyCount"], g["premiumUstx"]) for g in groups
                        )

                    async def stats_driver() -> list[tuple[str, str, int, str]]:
                        cursor = await policies.aggregate(stats_pipeline(), hint=STATS_INDEX)
                        return sorted(
                            (d["_id"]["tier"], d["_id"]["status"], d["policy_count"], str(d["premium_ustx"]))
                            for d in await cursor.to_list(None)
                        )

                    tg, tr, rg, rr = await paired(stats_graphql, stats_driver, args.samples, args.budget_s)
                    assert rg[-1] == rr[-1], (rg[-1], rr[-1])
                    row(report, "stats", tg, tr, groups=len(rr[-1]), index=STATS_INDEX)

                public = [d for d in docs if d["status_detailed"] not in ("PendingCreation", "FailedCreation")]
                target_doc = public[len(public) // 2]
                target = str(target_doc["_id"])

                async def one_graphql() -> str:
                    return str((await gql(http, ONE_QUERY, {"id": target}))["policy"]["id"])

                async def one_driver() -> str:
                    doc = await policies.find_one({"_id": target_doc["_id"]})
                    return str(doc["_id"]) if doc else ""

                if "policy" in args.only:
                    tg, tr, rg, rr = await paired(one_graphql, one_driver, args.samples * 4, args.budget_s)
                    assert rg[-1] == rr[-1] == target
                    row(report, "policy(id)", tg, tr)

                    plain = await PlainHttp.connect(api.url)

                    async def one_plain() -> str:
                        return str((await plain.gql(ONE_QUERY, {"id": target}))["policy"]["id"])

                    tg, tr, rg, rr = await paired(one_plain, one_driver, args.samples * 4, args.budget_s)
                    assert rg[-1] == rr[-1] == target
                    row(report, "policy(id) plain HTTP client", tg, tr)

                    # Where the time goes: the same request with no read ({ __typename }), and without HTTP.
                    async def typename_plain() -> str:
                        return str((await plain.gql(TYPENAME_QUERY, {}))["__typename"])

                    tg, tr, _, _ = await paired(typename_plain, one_driver, args.samples * 4, args.budget_s)
                    await plain.close()
                    row(report, "{ __typename } plain HTTP client", tg, tr)
                    await in_process_rows(report, mongo.uri, database, target, one_driver, args)

                for case in (cases(busiest)[0], cases(busiest)[3]) if "count" in args.only else ():
                    flt = case.flt

                    async def count_graphql(case: Case = case) -> int:
                        return int((await gql(http, COUNT_QUERY, {"f": case.variables}))["policies"]["totalCount"])

                    async def count_driver(flt: PolicyFilter = flt) -> int:
                        return await policies.count_documents(flt.query(), hint=flt.index_hint())

                    tg, tr, rg, rr = await paired(count_graphql, count_driver, args.samples, args.budget_s)
                    assert rg[-1] == rr[-1], (rg[-1], rr[-1])
                    row(report, f"totalCount {case.name}", tg, tr, count=rr[-1])

                if "pages" in args.only:
                    explain = (
                        await policies.find(cases(busiest)[3].flt.query())
                        .sort("_id", DESCENDING)
                        .limit(PAGE + 1)
                        .hint("status_id")
                        .explain()
                    )
                    report.extra["explain_status_page"] = _plan_summary(explain)
            await client.close()
    return report.emit()


async def open_session(db: Any, address: str) -> str:
    """A session for `address`, stored the way `authenticate` stores one (the bench signs in no wallet)."""
    token = new_token()
    now = datetime.now(UTC)
    await db.sessions.insert_one(
        {
            "_id": token_key(token),
            "address": address,
            "public_key": "02" + "11" * 32,
            "created_at": now,
            "expires_at": now + timedelta(hours=12),
            "revoked_at": None,
        }
    )
    return token


async def in_process_rows(
    report: Report, uri: str, database: str, target: str, one_driver: Callable[[], Awaitable[str]], args: Any
) -> None:
    """`policy(id)` and `{ __typename }` through the app called in this process (as the API process builds it)."""
    settings = Settings(
        _env_file=None,
        mongodb_database=database,
        run_worker=False,
        rate_limit_per_s=0,
        log_level="WARNING",
        graphiql_enabled=False,
        mongodb_timeout_ms=120_000,
    )  # what bench/common.py api_env gives the API process
    app = create_app(settings, uri)
    async with app.router.lifespan_context(app):
        local = InProcessApp(app)

        async def one_local() -> str:
            return str((await local.gql(ONE_QUERY, {"id": target}))["policy"]["id"])

        async def typename_local() -> str:
            return str((await local.gql(TYPENAME_QUERY, {}))["__typename"])

        tg, tr, rg, rr = await paired(one_local, one_driver, args.samples * 4, args.budget_s)
        assert rg[-1] == rr[-1] == target
        row(report, "policy(id) in-process ASGI call", tg, tr)
        tg, tr, _, _ = await paired(typename_local, one_driver, args.samples * 4, args.budget_s)
        row(report, "{ __typename } in-process ASGI call", tg, tr)


def _plan_summary(explain: dict[str, Any]) -> dict[str, Any]:
    plan = explain.get("queryPlanner", {}).get("winningPlan", {})
    stages = []
    node: Any = plan
    while isinstance(node, dict) and node.get("stage"):
        stages.append(node["stage"] + (f"({node.get('indexName')})" if node.get("indexName") else ""))
        node = node.get("inputStage")
    stats = explain.get("executionStats", {})
    return {
        "stages": " <- ".join(stages),
        "keys_examined": stats.get("totalKeysExamined"),
        "docs_examined": stats.get("totalDocsExamined"),
        "returned": stats.get("nReturned"),
        "server_ms": stats.get("executionTimeMillis"),
    }


def _figures(value: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = sorted(set(chosen) - set(FIGURES))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {','.join(FIGURES)} (got {value!r})")
    return chosen


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few hundred policies and a few samples")
    parser.add_argument("--policies", type=int)
    parser.add_argument("--samples", type=int, help="pairs per figure (GraphQL and raw)")
    parser.add_argument("--budget-s", type=float, help="stop sampling a figure after this long (at least 3 pairs)")
    parser.add_argument(
        "--only", type=_figures, default=FIGURES, help=f"comma-separated figures to run, of {','.join(FIGURES)}"
    )
    args = parser.parse_args(argv)
    args.policies = args.policies or (200 if args.smoke else 100_000)
    args.samples = args.samples or (3 if args.smoke else 50)
    args.budget_s = args.budget_s if args.budget_s is not None else (0.2 if args.smoke else 60.0)
    return asyncio.run(run(args))


if __name__ == "__main__":
    main()
