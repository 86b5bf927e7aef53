#!/usr/bin/env python3
"""Set up and run the project with nothing but Python 3.11+ and Node 20 on the machine.

    python3 dev.py up      install what is missing, build the example page, then run the API with its jobs on the
                           embedded default (the page at http://127.0.0.1:8000/app/)
    python3 dev.py test    install what is missing (Chromium too, for the browser tests), build the example page,
                           then run the whole test suite (the TypeScript client's vitest suite and the page's browser
                           test run inside pytest, against one service and devnet)
    python3 dev.py bench   install what is missing, then run every benchmark in full (long: see bench/README.md)

Installs go into ./.venv (Python) and each Node project's node_modules (contracts/, clients/typescript/,
examples/web/, tests/browser/, tests/conformance/, bench/node_peer/). They are redone only when pyproject.toml or
a package-lock.json changes, so a second run starts at once; the page is rebuilt only when its sources or the
client's changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
CONTRACTS = ROOT / "contracts"
BROWSER_TESTS = ROOT / "tests" / "browser"
CONFORMANCE_TESTS = ROOT / "tests" / "conformance"  # graphql-http's GraphQL-over-HTTP audits
CLIENT = ROOT / "clients" / "typescript"  # the TypeScript client (its vitest suite runs from tests/web)
WEB = ROOT / "examples" / "web"  # the example page, built with Vite and served at /app
NODE_PEER = ROOT / "bench" / "node_peer"  # the fan-out bench's Node reference server
CHROMIUM = Path("/usr/bin/chromium")
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[dev {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def run(argv: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    say("$ " + " ".join(argv))
    subprocess.run(argv, cwd=cwd, env=env, check=True)


def digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes() if path.exists() else b"")
    return h.hexdigest()[:16]


def ensure_python() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs under whatever python3 the machine has
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        say("creating the virtual environment in .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{digest(ROOT / 'pyproject.toml')}"
    if stamp.exists():
        say("Python dependencies are up to date")
        return
    say("installing the Python package and its dependencies (first run: a minute or two)")
    run(
        [
            str(BIN / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "-e",
            ".[dev]",
        ]
    )
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()


def ensure_node(*projects: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm (Node 20) is needed for the contracts and the local devnet")
    for project in projects or (CONTRACTS,):
        lock = project / "package-lock.json"
        stamp = project / "node_modules" / f".installed-{digest(lock)}"
        where = project.relative_to(ROOT)
        if stamp.exists():
            say(f"Node dependencies in {where} are up to date")
            continue
        say(f"installing the Node dependencies in {where} (npm ci)")
        run([npm, "ci", "--no-audit", "--no-fund"], cwd=project)
        for old in (project / "node_modules").glob(".installed-*"):
            old.unlink()
        stamp.touch()


def ensure_chromium() -> None:
    """The browser test drives Debian's chromium; install it when missing and this process can."""
    if CHROMIUM.exists():
        say(f"Chromium for the browser test: {CHROMIUM}")
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        say("Chromium is missing and cannot be installed here (needs root and apt-get): the browser test is skipped")
        return
    say("installing Chromium for the browser test (apt-get; a minute or two)")
    try:
        run([apt, "update"])
        quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run([apt, "install", "-y", "--no-install-recommends", "chromium"], env=quiet)
    except subprocess.CalledProcessError as exc:
        say(f"Chromium could not be installed (exit {exc.returncode}): the browser test is skipped")


def build_page() -> None:
    """`npm run build` in examples/web when the built page is missing or older than its sources or the client's."""
    built = WEB / "dist" / "index.html"
    sources = [WEB / "index.html", WEB / "vite.config.ts", *(WEB / "src").rglob("*"), *(CLIENT / "src").rglob("*")]
    if built.exists() and all(f.stat().st_mtime <= built.stat().st_mtime for f in sources if f.is_file()):
        say("the example page is built (examples/web/dist)")
        return
    say("building the example page (examples/web, Vite)")
    run([shutil.which("npm") or "npm", "run", "build", "--silent"], cwd=WEB)


def up(extra: list[str]) -> int:
    ensure_python()
    ensure_node(CONTRACTS, CLIENT, WEB)
    build_page()
    say("starting the Policy Registry (Ctrl-C stops everything)")
    os.execv(str(BIN / "policy-registry"), [str(BIN / "policy-registry"), "serve", *extra])
    return 0  # not reached


def test(extra: list[str]) -> int:
    ensure_python()
    ensure_node(CONTRACTS, BROWSER_TESTS, CONFORMANCE_TESTS, CLIENT, WEB, NODE_PEER)
    ensure_chromium()
    build_page()
    # The contract tests (CPU-bound, in Node) run beside pytest (mostly waiting on its servers): the suite takes
    # about as long as pytest alone. Their output goes to a log, printed once pytest is done.
    log_path = ROOT / ".data" / "contract-tests.log"
    log_path.parent.mkdir(exist_ok=True)
    say(f"running the contract tests (vitest + Clarinet simnet, devnet node tests) in the background: {log_path}")
    with log_path.open("wb") as log:
        contracts_run = subprocess.Popen(
            [shutil.which("npm") or "npm", "test"], cwd=CONTRACTS, stdout=log, stderr=subprocess.STDOUT
        )
        say("running the Python test suite (pytest)")
        python = subprocess.run([str(BIN / "python"), "-m", "pytest", *extra], cwd=ROOT, check=False).returncode
        contracts = contracts_run.wait()
    say(f"contract tests (npm test in contracts/), exit {contracts}:")
    sys.stdout.write(log_path.read_text(errors="replace"))
    say(f"contracts: {'passed' if contracts == 0 else 'FAILED'}; python: {'passed' if python == 0 else 'FAILED'}")
    return contracts or python


def bench(extra: list[str]) -> int:
    ensure_python()
    ensure_node(CONTRACTS, NODE_PEER)
    failed = 0
    for name in ("query", "fanout", "ingest", "e2e", "durability", "fragments"):
        say(f"benchmark {name} (full mode)")
        command = [str(BIN / "python"), "-m", f"bench.{name}", *extra]
        failed = failed or subprocess.run(command, cwd=ROOT, check=False).returncode
    return failed


def main() -> int:
    commands = {"up": up, "test": test, "bench": bench}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    try:
        return commands[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as exc:
        say(f"failed: {' '.join(map(str, exc.cmd))} (exit {exc.returncode})")
        return exc.returncode or 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
