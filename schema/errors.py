"""Every GraphQL error leaves with a code in `extensions.code`; unexpected ones are masked.

- A domain error (`services.core.errors.ServiceError`, or a driver error it stands for) keeps its message and gets its
  code and safe details.
  The codes (docs/api.md): BAD_INPUT, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, CONFLICT, ORACLE_UNAVAILABLE,
  INSUFFICIENT_CAPACITY, INSUFFICIENT_FUNDS, QUOTA_EXCEEDED, ACTIVATION_CONDITION_NOT_MET, CHAIN_UNAVAILABLE,
  UNAVAILABLE, RATE_LIMITED, SLOW_CONSUMER, INTERNAL.
- An error before execution (syntax, validation, variable coercion, the query limits) is the client's: BAD_INPUT.
- Anything else is a bug or an outage we did not classify: the client sees "Internal server error", code
  INTERNAL and the request id; the log gets the traceback under the same request id.

`CodedErrors` works like Strawberry's MaskErrors, through the public extension hooks only: `on_operation` rewrites
the errors of the operation's result, `on_stream_result` those of each streamed result (a subscription's events,
incremental frames), and a stream's last result is not rewritten twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult, StreamExecutionResult
from strawberry.types.graphql import OperationType

from schema.error_mapping import to_service_error

log = logging.getLogger("policy_registry.graphql")


def _request_id(context: Any) -> str | None:
    return getattr(context, "request_id", None)


class CodedErrors(SchemaExtension):
    error_message = "Internal server error"

    def __init__(self) -> None:
        self._stream_result_processed = False

    def on_operation(self) -> Iterator[None]:
        self._stream_result_processed = False
        yield
        # A stream's results were each coded before they were sent (`on_stream_result`); its last one is the
        # operation's result too, and must not be coded twice.
        if self._stream_result_processed:
            return
        result = self.execution_context.result
        if isinstance(result, (GraphQLExecutionResult, ExecutionResult)):
            self._code_result(result)
        elif initial_result := getattr(result, "initial_result", None):
            self._code_result(initial_result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._stream_result_processed = True
        self._code_result(result)
        for incremental_result in getattr(result, "incremental", None) or ():
            self._code_result(incremental_result)
        for completed_result in getattr(result, "completed", None) or ():
            self._code_result(completed_result)
        yield None

    def _code_result(self, result: object) -> None:
        # Read `errors` directly: testing results against a runtime-checkable Protocol, as MaskErrors does, is slow
        # enough to show once per subscriber per change.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._code_errors(errors)  # type: ignore[attr-defined]

    def _code_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        context = getattr(self.execution_context, "context", None)
        if self._subscription_over_http(context):
            # Over HTTP a subscription field can only fail (its resolver is a stream): say what to do instead.
            message = "subscriptions are served over WebSocket at /graphql (graphql-transport-ws or graphql-ws)"
            return [self._with(errors[0], message, {"code": "BAD_INPUT"})] if errors else errors
        request_id = _request_id(context)
        return [self._coded(error, request_id) for error in errors]

    def _subscription_over_http(self, context: Any) -> bool:
        request = getattr(context, "request", None)
        if request is None or request.scope.get("type") != "http":
            return False
        try:
            return self.execution_context.operation_type is OperationType.SUBSCRIPTION
        except Exception:
            return False

    def _coded(self, error: GraphQLError, request_id: str | None) -> GraphQLError:
        original = error.original_error
        service_error = to_service_error(original) if original is not None else None
        if service_error is not None:
            return self._with(error, service_error.message, {"code": service_error.code, **service_error.details})
        if error.extensions and "code" in error.extensions:
            return error
        if isinstance(original, (InvalidOperationTypeError, CannotGetOperationTypeError)):
            # e.g. a query sent over graphql-ws, which carries subscriptions only
            return self._with(error, error.message, {"code": "BAD_INPUT"})
        # An error located in the document but not in a field (variable coercion: graphql-core 3.3 wraps the
        # scalar's or enum's GraphQLError) is the client's; one raised inside a subscription's source stream has
        # neither path nor location: that is ours, and masked.
        client_side = (ValueError, TypeError, GraphQLError)
        if original is None or (error.path is None and error.nodes and isinstance(original, client_side)):
            return self._with(error, error.message, {"code": "BAD_INPUT"})
        log.error("unexpected error in %s (request %s)", error.path, request_id, exc_info=original)
        return self._with(error, self.error_message, {"code": "INTERNAL", "requestId": request_id})

    @staticmethod
    def _with(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
        return GraphQLError(
            message=message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions=extensions,
        )
