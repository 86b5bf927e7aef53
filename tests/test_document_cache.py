"""schema/documents.py: documents that passed the query limits are parsed and validated once, by their exact text;
the limits still apply to every other text, the cache is bounded, and nothing a caller gets is shared."""

from __future__ import annotations

from typing import Any

import graphql
import pytest
import strawberry.schema.schema as strawberry_schema

from policy_registry.graphql_schema import build_schema
from schema.documents import DocumentCache

INTROSPECTION = "{ __schema { queryType { name } } }"


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often Strawberry parses and validates (its module-level functions)."""
    seen = {"parse": 0, "validate": 0}
    parse, validate = graphql.parse, strawberry_schema.validate_document  # Strawberry calls graphql-core's parse

    def counted_parse(*args: Any, **kwargs: Any) -> Any:
        seen["parse"] += 1
        return parse(*args, **kwargs)

    def counted_validate(*args: Any, **kwargs: Any) -> Any:
        seen["validate"] += 1
        return validate(*args, **kwargs)

    monkeypatch.setattr(strawberry_schema, "parse", counted_parse)
    monkeypatch.setattr(strawberry_schema, "validate_document", counted_validate)
    return seen


async def test_a_valid_document_is_parsed_and_validated_once(counts: dict[str, int]) -> None:
    cache = DocumentCache()
    schema = build_schema(document_cache=cache)
    for _ in range(3):
        result = await schema.execute("{ __typename }")
        assert result.errors is None and result.data == {"__typename": "Query"}
    assert counts == {"parse": 1, "validate": 1} and len(cache) == 1
    other = await schema.execute("query Named { __typename }")  # another text is another entry
    assert other.errors is None and counts == {"parse": 2, "validate": 2} and len(cache) == 2


async def test_invalid_documents_are_not_kept_and_fail_every_time(counts: dict[str, int]) -> None:
    cache = DocumentCache()
    schema = build_schema(max_depth=2, document_cache=cache)
    deep = "{ policies { edges { node { id } } } }"
    for _ in range(2):
        result = await schema.execute(deep)
        assert result.errors and "exceeds maximum operation depth" in result.errors[0].message
    for _ in range(2):
        result = await schema.execute("{ nope }")
        assert result.errors and "nope" in result.errors[0].message
    for _ in range(2):
        result = await schema.execute("{ __typename ")
        assert result.errors and "Syntax Error" in result.errors[0].message
    assert len(cache) == 0 and counts["validate"] == 4


async def test_the_token_and_alias_limits_still_apply() -> None:
    schema = build_schema(max_tokens=60, max_aliases=2, document_cache=DocumentCache())
    aliases = "{ a: __typename b: __typename c: __typename }"
    assert (await schema.execute(aliases)).errors
    tokens = "{ " + " ".join(["__typename"] * 80) + " }"
    result = await schema.execute(tokens)
    assert result.errors and "token" in result.errors[0].message.lower()
    assert (await schema.execute("{ a: __typename b: __typename }")).errors is None


async def test_each_schema_keeps_its_own_rules() -> None:
    open_schema = build_schema(introspection=True)
    closed = build_schema(introspection=False)
    assert (await open_schema.execute(INTROSPECTION)).errors is None
    result = await closed.execute(INTROSPECTION)  # the open schema's cached document does not let it through
    assert result.errors and "introspection" in result.errors[0].message.lower()


async def test_variables_are_checked_per_request() -> None:
    schema = build_schema(document_cache=DocumentCache())
    query = "query($id: ID!) { policy(id: $id) { id } }"
    for _ in range(2):  # the second request takes the cached document; its variables are still coerced
        missing = await schema.execute(query, variable_values={})
        assert missing.errors and "$id" in missing.errors[0].message
    assert len(schema.extensions) == 2  # CodedErrors and the limits; no result cache among them


def test_the_cache_is_bounded_and_skips_long_texts() -> None:
    parse = graphql.parse
    cache = DocumentCache(max_entries=2, max_query_chars=40)
    documents = {text: parse(text) for text in ("{ a }", "{ b }", "{ c }")}
    for text, document in documents.items():
        cache.put(text, document)
    assert len(cache) == 2 and cache.get("{ a }") is None and cache.get("{ c }") is documents["{ c }"]
    cache.get("{ b }")  # b is now the most recently used: c goes first
    cache.put("{ a }", documents["{ a }"])
    assert cache.get("{ c }") is None and cache.get("{ b }") is not None
    long_text = "{ " + "a " * 30 + "}"
    cache.put(long_text, parse(long_text))
    assert cache.get(long_text) is None
    off = DocumentCache(max_entries=0)
    off.put("{ a }", documents["{ a }"])
    assert len(off) == 0
