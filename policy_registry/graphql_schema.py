"""The assembled GraphQL schema: the root types (resolvers/root.py) with the types, scalars, error coding and query
limits of schema/, and the export of its SDL (`schema/schema.graphql`, `policy-registry export-schema`)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import ASTValidationRule
from graphql.error import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.printer import print_schema
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from policy_registry.fanout import with_shared_events
from resolvers.root import Mutation, Query, Subscription
from schema.documents import DocumentCache, QueryLimits
from schema.errors import CodedErrors
from schema.scalars import SCALAR_MAP


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
    shared_fanout: bool = False,
) -> strawberry.Schema:
    """`shared_fanout`: subscription events are executed once per change and operation, not per subscriber
    (policy_registry/fanout.py); queries and mutations run exactly as without it."""
    # One extension applies every query limit, with rules built once, and reuses documents that passed them
    # (schema/documents.py); depth, aliases and expanded fields are one linear rule (schema/query_shape.py).
    extra_rules: tuple[type[ASTValidationRule], ...] = () if introspection else (NoSchemaIntrospectionCustomRule,)
    limits = QueryLimits(max_depth, max_tokens, max_aliases, extra_rules, document_cache, max_fields=max_fields)
    extensions: list[Any] = [CodedErrors, limits.extension]

    def assemble(execution_context_class: Any = None) -> strawberry.Schema:
        return RegistrySchema(
            query=Query,
            mutation=Mutation,
            subscription=Subscription,
            extensions=extensions,
            execution_context_class=execution_context_class,
            config=StrawberryConfig(scalar_map=SCALAR_MAP),
        )

    return with_shared_events(assemble) if shared_fanout else assemble()


def export_sdl() -> str:
    return print_schema(build_schema()) + "\n"
