"""The query limits (tokens, depth, aliases, expanded fields, optionally no introspection) and a cache of prepared
documents.

Depth, aliases and expanded fields are one rule of our own (schema/query_shape.py), linear in the document: each
fragment is measured once, not once per path that reaches it. Strawberry parses and validates every request's
document again; parsing and validating a small query cost more than the read it asks for. Everything they
compute depends only on the document's text and on this schema's fixed rules, so a document that parsed and
validated cleanly is kept, by its exact text, and the next request with the same text skips both steps.

The cache holds parsed documents only, never results or errors: what a caller gets is still resolved for it. It is
bounded (least recently used entries go first) and skips long texts, so a client cannot grow it or hold much.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator

from graphql import ASTValidationRule, DocumentNode, GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from schema.query_shape import ShapeLimits, query_shape_rule

DEFAULT_CACHE_SIZE = 256
MAX_CACHED_QUERY_CHARS = 8_192  # real clients' documents are a few hundred characters; the odd huge one is not kept


class DocumentCache:
    """Documents that passed parsing and validation, by their text; bounded LRU, safe across threads."""

    def __init__(self, max_entries: int = DEFAULT_CACHE_SIZE, max_query_chars: int = MAX_CACHED_QUERY_CHARS) -> None:
        self.max_entries = max_entries
        self.max_query_chars = max_query_chars
        self._entries: OrderedDict[str, DocumentNode] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, query: str) -> DocumentNode | None:
        with self._lock:
            document = self._entries.get(query)
            if document is not None:
                self._entries.move_to_end(query)
            return document

    def put(self, query: str, document: DocumentNode) -> None:
        if self.max_entries <= 0 or len(query) > self.max_query_chars:
            return
        with self._lock:
            self._entries[query] = document
            self._entries.move_to_end(query)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class QueryLimits:
    """A schema's fixed limits: the parser's token cap and the validation rules, built once (not per request)."""

    def __init__(
        self,
        max_depth: int,
        max_tokens: int,
        max_aliases: int,
        extra_rules: tuple[type[ASTValidationRule], ...] = (),
        cache: DocumentCache | None = None,
        max_fields: int = 300,
    ) -> None:
        self.max_tokens = max_tokens
        self.shape = ShapeLimits(max_depth=max_depth, max_aliases=max_aliases, max_fields=max_fields)
        # The shape rule goes before the standard rules: over a bound it aborts the validation before they run.
        self.rules: tuple[type[ASTValidationRule], ...] = (query_shape_rule(self.shape), *extra_rules)
        self.cache = cache if cache is not None else DocumentCache()

    def extension(self) -> PreparedDocuments:
        """The per-request extension (Strawberry builds extensions per request from this factory)."""
        return PreparedDocuments(self)


class OperationNotChosen(GraphQLError):
    """A document with several operations and no `operationName`: nothing runs (GraphQL spec, GetOperation;
    Strawberry would run the first one). A request error: the HTTP view answers 400 whatever the media type."""

    def __init__(self) -> None:
        super().__init__(
            "the document has several operations: say which one to run in `operationName`",
            extensions={"code": "BAD_INPUT"},
        )


def operation_not_chosen(document: DocumentNode, name: str | None) -> bool:
    """An unknown `operationName` is Strawberry's to refuse (CannotGetOperationTypeError, before validation)."""
    return name is None and sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1


class PreparedDocuments(SchemaExtension):
    """Applies the limits to a request and takes its document from the cache when the same text passed before."""

    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits
        self._cached = False

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.limits.max_tokens
        shape_rule, *extra = self.limits.rules
        context.validation_rules = (shape_rule, *context.validation_rules, *extra)
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            document = self.limits.cache.get(context.query)
            if document is not None:
                context.graphql_document = document  # Strawberry does not parse a document already set
                self._cached = True
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and operation_not_chosen(document, context._provided_operation_name):
            context.pre_execution_errors = [OperationNotChosen()]  # Strawberry then skips validation and execution
        elif self._cached:
            context.pre_execution_errors = []  # validated when cached, under the same rules: Strawberry skips it
        yield
        document = context.graphql_document
        if not self._cached and context.query and document is not None and context.pre_execution_errors == []:
            self.limits.cache.put(context.query, document)
