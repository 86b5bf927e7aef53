"""The GraphQL schema: types, inputs, enums, scalars, and the assembled `build_schema`.

`schema.graphql` beside this file is the exported SDL (`policy-registry export-schema`); a test keeps it fresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import strawberry
from graphql import ASTValidationRule
from graphql.error import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.printer import print_schema
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.documents import DocumentCache, QueryLimits
from schema.errors import CodedErrors
from schema.root import Mutation, Query, Subscription
from schema.scalars import SCALAR_MAP

SDL_PATH = Path(__file__).with_name("schema.graphql")


class RegistrySchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # CodedErrors logs what deserves a log line (unexpected errors, with the request id); client errors are
        # answered, not logged as server errors.
        return None


def build_schema(
    max_depth: int = 10,
    max_tokens: int = 2000,
    max_aliases: int = 30,
    introspection: bool = True,
    document_cache: DocumentCache | None = None,
    max_fields: int = 300,
) -> strawberry.Schema:
    # One extension applies every query limit, with rules built once, and reuses documents that passed them
    # (schema/documents.py); depth, aliases and expanded fields are one linear rule (schema/query_shape.py).
    extra_rules: tuple[type[ASTValidationRule], ...] = () if introspection else (NoSchemaIntrospectionCustomRule,)
    limits = QueryLimits(max_depth, max_tokens, max_aliases, extra_rules, document_cache, max_fields=max_fields)
    extensions: list[Any] = [CodedErrors, limits.extension]
    return RegistrySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )


def export_sdl() -> str:
    return print_schema(build_schema()) + "\n"
