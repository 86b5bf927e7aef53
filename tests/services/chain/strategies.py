"""Hypothesis strategies and a seeded generator of Clarity values with their JSON spec for the Node oracle."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from services.chain.c32 import encode_address
from services.chain.clarity import (
    ClarityBool,
    ClarityBuffer,
    ClarityContractPrincipal,
    ClarityErr,
    ClarityInt,
    ClarityList,
    ClarityNone,
    ClarityOk,
    ClaritySome,
    ClarityStandardPrincipal,
    ClarityStringAscii,
    ClarityStringUtf8,
    ClarityTuple,
    ClarityUInt,
    ClarityValue,
)

ASCII_ALPHABET = "".join(chr(c) for c in range(0x20, 0x7F)) + "\t\n\r\x0c"
# Keys whose byte order and JavaScript localeCompare order agree (the project's kebab-case style).
KEBAB_KEY = st.from_regex(r"[a-z][a-z0-9\-]{0,20}", fullmatch=True)
ANY_KEY = st.from_regex(r"[a-zA-Z][a-zA-Z0-9\-_!?+<>=/*]{0,30}", fullmatch=True)
CONTRACT_NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9\-_]{0,39}", fullmatch=True)
VERSIONS = st.sampled_from([22, 20, 26, 21])


def _tuples(children: st.SearchStrategy[ClarityValue], keys: st.SearchStrategy[str]) -> Any:
    return st.dictionaries(keys, children, min_size=1, max_size=5).map(ClarityTuple.of)


def clarity_values(keys: st.SearchStrategy[str] = ANY_KEY) -> st.SearchStrategy[ClarityValue]:
    leaves = st.one_of(
        st.integers(-(2**127), 2**127 - 1).map(ClarityInt),
        st.integers(0, 2**128 - 1).map(ClarityUInt),
        st.binary(max_size=40).map(ClarityBuffer),
        st.booleans().map(ClarityBool),
        st.builds(ClarityStandardPrincipal, VERSIONS, st.binary(min_size=20, max_size=20)),
        st.builds(ClarityContractPrincipal, VERSIONS, st.binary(min_size=20, max_size=20), CONTRACT_NAME),
        st.just(ClarityNone()),
        st.text(ASCII_ALPHABET, max_size=30).map(ClarityStringAscii),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=20).map(ClarityStringUtf8),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            children.map(ClarityOk),
            children.map(ClarityErr),
            children.map(ClaritySome),
            st.lists(children, max_size=4).map(lambda items: ClarityList(tuple(items))),
            _tuples(children, keys),
        ),
        max_leaves=12,
    )


# Seeded generator for the oracle: (value, spec) pairs ------------------------------------------------------


def _rand_key(rng: random.Random) -> str:
    first = rng.choice("abcdefghijklmnopqrstuvwxyz")
    return first + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-") for _ in range(rng.randint(0, 12)))


def _rand_text(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))


UTF8_SAMPLE = "abcXYZ 09-é漢字ß€☃😀\U0001f680\n\t\"'\\"


def random_value(rng: random.Random, depth: int = 0) -> tuple[ClarityValue, dict[str, Any]]:
    kinds = ["int", "uint", "buff", "bool", "std", "contract", "none", "ascii", "utf8"]
    if depth < 4:
        kinds += ["ok", "err", "some", "list", "tuple"] * 2
    kind = rng.choice(kinds)
    if kind == "int":
        n = rng.choice([0, -1, 1, -(2**127), 2**127 - 1, rng.randint(-(2**127), 2**127 - 1), rng.randint(-1000, 1000)])
        return ClarityInt(n), {"t": "int", "v": str(n)}
    if kind == "uint":
        n = rng.choice([0, 1, 2**128 - 1, rng.randint(0, 2**128 - 1), rng.randint(0, 10**8)])
        return ClarityUInt(n), {"t": "uint", "v": str(n)}
    if kind == "buff":
        b = rng.randbytes(rng.randint(0, 40))
        return ClarityBuffer(b), {"t": "buff", "v": b.hex()}
    if kind == "bool":
        flag = rng.random() < 0.5
        return ClarityBool(flag), {"t": "true" if flag else "false"}
    if kind in ("std", "contract"):
        version = rng.choice([22, 20, 26, 21])
        h = (b"\x00" * rng.randint(0, 3) + rng.randbytes(20))[:20]
        address = encode_address(version, h)
        if kind == "std":
            return ClarityStandardPrincipal(version, h), {"t": "principal", "v": address}
        name = rng.choice("abcdefgXYZ") + _rand_text(rng, "abcdefghijklmnopqrstuvwxyz0123456789-_", 30)
        return ClarityContractPrincipal(version, h, name), {"t": "principal", "v": f"{address}.{name}"}
    if kind == "none":
        return ClarityNone(), {"t": "none"}
    if kind == "ascii":
        s = _rand_text(rng, ASCII_ALPHABET, 40)
        return ClarityStringAscii(s), {"t": "ascii", "v": s}
    if kind == "utf8":
        s = _rand_text(rng, UTF8_SAMPLE, 25)
        return ClarityStringUtf8(s), {"t": "utf8", "v": s}
    if kind in ("ok", "err", "some"):
        inner, spec = random_value(rng, depth + 1)
        wrappers: dict[str, Callable[[ClarityValue], ClarityValue]] = {
            "ok": ClarityOk,
            "err": ClarityErr,
            "some": ClaritySome,
        }
        cls = wrappers[kind]
        return cls(inner), {"t": kind, "v": spec}
    if kind == "list":
        pairs = [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
        return ClarityList(tuple(v for v, _ in pairs)), {"t": "list", "v": [s for _, s in pairs]}
    keys = sorted({_rand_key(rng) for _ in range(rng.randint(1, 5))})
    rng.shuffle(keys)
    fields = {k: random_value(rng, depth + 1) for k in keys}
    return (
        ClarityTuple.of({k: v for k, (v, _) in fields.items()}),
        {"t": "tuple", "v": [[k, s] for k, (_, s) in fields.items()]},
    )
