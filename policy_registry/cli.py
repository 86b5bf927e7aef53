"""`policy-registry`: run the API (with the embedded database when no MONGODB_URI is set) and project chores."""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import ExitStack
from pathlib import Path

log = logging.getLogger("policy_registry")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from policy_registry.app import create_app
    from policy_registry.embedded.stack import banner, start_embedded
    from policy_registry.logging_setup import configure_logging
    from policy_registry.server import GracefulServer, uvicorn_options
    from policy_registry.settings import get_settings

    settings = get_settings()
    if args.host:
        settings.host = args.host
    if args.port is not None:
        settings.port = args.port
    configure_logging(settings.log_level, settings.log_format)
    with ExitStack() as stack:
        parts = start_embedded(settings, stack)
        uri = parts.mongodb_uri
        app = create_app(settings, uri)
        log.info("GraphQL API and GraphiQL at http://%s:%s/graphql", settings.host, settings.port)
        config = uvicorn.Config(app, **uvicorn_options(settings))
        print(banner(settings, parts), flush=True)
        GracefulServer(config).run()
    log.info("stopped")
    return 0


def _worker(args: argparse.Namespace) -> int:
    import asyncio

    from policy_registry.embedded.secantus import Durability, EmbeddedMongo
    from policy_registry.logging_setup import configure_logging
    from policy_registry.settings import get_settings
    from policy_registry.worker import run_worker

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if not settings.stacks_api_url:
        print("policy-registry worker: set STACKS_API_URL (the Stacks API to follow)", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        uri = settings.mongodb_uri
        if uri is None:
            data = settings.embedded_db_path
            log.info("MONGODB_URI is not set: starting the embedded SecantusDB server (data in %s)", data)
            uri = stack.enter_context(
                EmbeddedMongo(
                    data, log_path=data.parent / "secantus.log", durability=Durability.from_settings(settings)
                )
            ).uri
        asyncio.run(run_worker(settings, uri, accept_chain_restart=args.accept_chain_restart))
    return 0


def _export_schema(args: argparse.Namespace) -> int:
    from policy_registry.graphql_schema import export_sdl
    from schema import SDL_PATH

    sdl = export_sdl()
    target = Path(args.output) if args.output else SDL_PATH
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != sdl:
            print(f"{target} is stale: run `policy-registry export-schema`", file=sys.stderr)
            return 1
        return 0
    target.write_text(sdl, encoding="utf-8")
    print(f"wrote {target}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="policy-registry",
        description="BitHedge Policy Registry: GraphQL API over MongoDB for Bitcoin protection policies on Stacks.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API (embedded SecantusDB when MONGODB_URI is unset)")
    serve.add_argument("--host", help="bind address (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: PORT or 8000)")
    serve.set_defaults(func=_serve)
    worker = sub.add_parser(
        "worker", help="run only the chain listener and background jobs (leases make it safe to run many)"
    )
    worker.add_argument(
        "--accept-chain-restart",
        action="store_true",
        help="the Stacks API serves a new chain (devnet restart): orphan the old chain's events and follow the new one",
    )
    worker.set_defaults(func=_worker)
    export = sub.add_parser("export-schema", help="write the GraphQL SDL to schema/schema.graphql")
    export.add_argument("--output", help="write here instead")
    export.add_argument("--check", action="store_true", help="exit 1 if the file differs from the schema")
    export.set_defaults(func=_export_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
