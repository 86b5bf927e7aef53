"""The fragment blow-up (docs/security.md "Hostile clients"): fragments that each spread the next one twice.

`query Q { ...F0 } fragment F0 on Query { ...F1 ...F1 } … fragment F{n} on Query { __typename }` is under 1 KB of
text for n = 22 and 4 million fields once expanded. A validation that walks a fragment once per path that reaches
it costs that expanded size (it froze the whole API for 13-21 s); the service's own rule (schema/query_shape.py)
measures each fragment once and refuses the document (`BAD_INPUT`, `extensions.limit: "maxFields"`).

Figures, against a real API process (uvicorn on loopback) while a second client polls `/healthz` every 5 ms:
- the hostile document's answer time, p50 and max over the repeats (each repeat a new text, so the parsed-document
  cache never answers it), and the worst `/healthz` wait during it;
- baseline, same run and process: `{ __typename }`, the cheapest request there is.

    .venv/bin/python -m bench.fragments                 # n = 22, 20 repeats
    .venv/bin/python -m bench.fragments --fragments 16  # a smaller document

`--server-tree DIR` runs the API process from another checkout, e.g. one from before the rule (the "before" figure):
`git worktree add /tmp/old feea97e && .venv/bin/python -m bench.fragments --server-tree /tmp/old --repeats 1`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

import httpx

from bench.common import ROOT, Report, api_server, percentile, say, secantus, workdir

TYPENAME = "{ __typename }"


def fragment_document(n: int, pad: int = 0) -> str:
    """F0 … F{n}, each spreading the next twice; `pad` trailing spaces make each repeat a new text."""
    spreads = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n))
    return f"query Q {{ ...F0 }} {spreads} fragment F{n} on Query {{ __typename }}" + " " * pad


async def timed_with_probe(client: httpx.AsyncClient, probe: httpx.AsyncClient, query: str) -> tuple[float, float, str]:
    """(answer ms, worst /healthz wait ms during it, the answer's body)."""
    waits: list[float] = []
    done = asyncio.Event()

    async def poll() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await probe.get("/healthz")
            waits.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.005)  # probe interval

    poller = asyncio.create_task(poll())
    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": query})
    elapsed = (time.perf_counter() - started) * 1000
    done.set()
    await poller
    return elapsed, max(waits, default=0.0), response.text


async def measure(url: str, fragments: int, repeats: int, report: Report) -> None:
    async with (
        httpx.AsyncClient(base_url=url, timeout=600) as client,
        httpx.AsyncClient(base_url=url, timeout=600) as probe,
    ):
        await client.post("/graphql", json={"query": TYPENAME})  # connections and the app's first request done
        await probe.get("/healthz")
        for case, make in (
            (f"{fragments} nested double-spread fragments", lambda i: fragment_document(fragments, i)),
            ("baseline { __typename }", lambda i: TYPENAME + " " * i),
        ):
            answers, worst = [], []
            body = ""
            for i in range(repeats):
                elapsed, waited, body = await timed_with_probe(client, probe, make(i))
                answers.append(elapsed)
                worst.append(waited)
            report.add(
                case=case,
                bytes=len(make(0)),
                n=repeats,
                answer_p50_ms=round(percentile(answers, 50), 2),
                answer_max_ms=round(max(answers), 2),
                healthz_worst_ms=round(max(worst), 2),
                refused="maxFields" in body,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fragments", type=int, default=22)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--server-tree", type=Path, default=ROOT, help="run the API process from this checkout")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
    args = parser.parse_args()
    if args.smoke:
        args.fragments, args.repeats = 12, 2
    report = Report("fragments", "smoke" if args.smoke else "full")
    with workdir("fragments") as tmp, secantus(tmp, memory=True) as db:
        with api_server(db.uri, f"fragments_{uuid.uuid4().hex[:8]}", tmp, root=args.server_tree) as api:
            say(f"API ({args.server_tree}) at {api.url}; {args.fragments} fragments, {args.repeats} repeats each")
            asyncio.run(measure(api.url, args.fragments, args.repeats, report))
    report.emit()


if __name__ == "__main__":
    main()
