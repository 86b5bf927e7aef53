"""The GraphQL schema: types, inputs, enums, scalars, and the assembled `build_schema`.

`schema.graphql` beside this file is the exported SDL (`policy-registry export-schema`); a test keeps it fresh.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.printer import print_schema
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

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
    max_depth: int = 10, max_tokens: int = 2000, max_aliases: int = 30, introspection: bool = True
) -> strawberry.Schema:
    extensions: list[Any] = [
        CodedErrors,
        partial(QueryDepthLimiter, max_depth=max_depth),
        partial(MaxTokensLimiter, max_token_count=max_tokens),
        partial(MaxAliasesLimiter, max_alias_count=max_aliases),
    ]
    if not introspection:
        from graphql.validation import NoSchemaIntrospectionCustomRule

        extensions.append(partial(AddValidationRules, [NoSchemaIntrospectionCustomRule]))
    return RegistrySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )


def export_sdl() -> str:
    return print_schema(build_schema()) + "\n"
