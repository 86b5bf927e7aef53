"""One validation rule for a document's shape: depth, aliases and expanded size, each fragment measured once.

A fragment spread twice is executed twice, so what a document costs is its size after every spread is replaced
by its fragment: `fragment F0 on Query { ...F1 ...F1 }` ... `fragment F22 on Query { __typename }` is 1 KB of
text and 4 million fields. Walking a fragment again for every path that reaches it (as Strawberry's
`QueryDepthLimiter` and `MaxAliasesLimiter` do) costs that expanded size too. Here each fragment's shape is
computed once, after the fragments it spreads (in dependency order), and a spread adds the shape already known:
the work is linear in the document's text while the numbers describe the expanded document. Sums stop one past
their bound, so the numbers stay small however large the expansion is.

- depth: the deepest field, counting the fields above it; introspection fields (`__schema`, `__type`) and what is
  below them do not count (GraphiQL's own introspection query is deep). Over `max_depth`: limit `maxDepth`.
- aliases: aliased fields after expansion. Over `max_aliases`: limit `maxAliases`.
- fields: fields after expansion, aliased ones and `__typename` included. Over `max_fields`: limit `maxFields`.

Each operation is measured on its own (only one of them runs). Cycles and unknown fragments are left to the
standard rules (NoFragmentCyclesRule, KnownFragmentNamesRule); here they add nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from graphql.language.visitor import SKIP, VisitorAction
from graphql.validation.validate import ValidationAbortedError


class QueryShapeError(ValidationAbortedError):
    """A document over a shape bound. Raised, it ends graphql-core's validation before the other rules work:
    some of them (OverlappingFieldsCanBeMerged) cost more than linear in the expanded document, so they only
    ever see documents within these bounds."""


@dataclass(frozen=True)
class Shape:
    depth: int = 0
    aliases: int = 0
    fields: int = 0


_EMPTY = Shape()


@dataclass(frozen=True)
class ShapeLimits:
    max_depth: int
    max_aliases: int
    max_fields: int


def _spreads(selection_set: SelectionSetNode) -> list[str]:
    """Names of the fragments spread anywhere in a selection set (iterative: nesting is the parser's bound)."""
    names: list[str] = []
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.append(selection.name.value)
            elif isinstance(selection, (FieldNode, InlineFragmentNode)) and selection.selection_set is not None:
                pending.append(selection.selection_set)
    return names


def _dependency_order(fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """Fragments with every fragment they spread before them (a spread into a cycle is skipped)."""
    order: list[str] = []
    state: dict[str, bool] = {}  # False: on the current path; True: placed
    for root in fragments:
        if root in state:
            continue
        state[root] = False
        stack = [(root, iter(_spreads(fragments[root].selection_set)))]
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                state[name] = True
                order.append(name)
            elif child in fragments and child not in state:
                state[child] = False
                stack.append((child, iter(_spreads(fragments[child].selection_set))))
    return order


class _Measure:
    def __init__(self, document: DocumentNode, limits: ShapeLimits) -> None:
        self._cap_aliases = limits.max_aliases + 1
        self._cap_fields = limits.max_fields + 1
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.fragments: dict[str, Shape] = {}
        for name in _dependency_order(fragments):
            self.fragments[name] = self.selections(fragments[name].selection_set)

    def selections(self, selection_set: SelectionSetNode) -> Shape:
        depth = aliases = fields = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                fields += 1
                aliases += selection.alias is not None
                if selection.selection_set is not None:
                    inner = self.selections(selection.selection_set)
                    if not selection.name.value.startswith("__"):
                        depth = max(depth, 1 + inner.depth)
                    aliases, fields = aliases + inner.aliases, fields + inner.fields
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.selections(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragments.get(selection.name.value, _EMPTY)
            else:  # pragma: no cover - graphql-core has no other selection
                continue
            depth = max(depth, inner.depth)
            aliases, fields = aliases + inner.aliases, fields + inner.fields
        return Shape(depth, min(aliases, self._cap_aliases), min(fields, self._cap_fields))


def measure(document: DocumentNode, limits: ShapeLimits) -> dict[OperationDefinitionNode, Shape]:
    """Each operation's shape (aliases and fields stop one past their limits)."""
    measured = _Measure(document, limits)
    return {
        d: measured.selections(d.selection_set) for d in document.definitions if isinstance(d, OperationDefinitionNode)
    }


def _over(operation: OperationDefinitionNode, shape: Shape, limits: ShapeLimits) -> list[GraphQLError]:
    name = operation.name.value if operation.name else "anonymous"
    found: list[tuple[str, int, str]] = []
    if shape.depth > limits.max_depth:
        found.append(("maxDepth", limits.max_depth, f"'{name}' exceeds maximum operation depth of {limits.max_depth}"))
    if shape.aliases > limits.max_aliases:
        found.append(("maxAliases", limits.max_aliases, f"'{name}' uses more than {limits.max_aliases} aliases"))
    if shape.fields > limits.max_fields:
        found.append(
            (
                "maxFields",
                limits.max_fields,
                f"'{name}' selects more than {limits.max_fields} fields once its fragments are expanded",
            )
        )
    return [
        QueryShapeError(message, [operation], extensions={"code": "BAD_INPUT", "limit": limit, "max": bound})
        for limit, bound, message in found
    ]


def shape_errors(document: DocumentNode, limits: ShapeLimits) -> list[GraphQLError]:
    """The errors of every operation over a bound (none: the document is within them)."""
    return [
        error for operation, shape in measure(document, limits).items() for error in _over(operation, shape, limits)
    ]


def query_shape_rule(limits: ShapeLimits) -> type[ValidationRule]:
    """The validation rule for these limits (built once per schema, instantiated per validation). Put it first:
    over a bound, it reports every bound exceeded and aborts the validation, so no later rule runs."""

    class QueryShapeRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)

        def enter_document(self, node: DocumentNode, *_: Any) -> VisitorAction:
            errors = shape_errors(node, limits)
            if errors:
                for error in errors[:-1]:
                    self.report_error(error)
                raise errors[-1]  # graphql-core ends the validation with it as the last error
            return SKIP  # everything was measured here; this rule need not visit the nodes below

    return QueryShapeRule
