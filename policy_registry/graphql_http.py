"""GraphQL over HTTP as its spec says, and request bodies that cannot hurt: the parts of the view below the schema.

- Request JSON (HTTP bodies, GET `variables`/`extensions`, WebSocket messages) is decoded with bounds checked while
  decoding: an integer longer than any argument takes (a Clarity uint has 39 digits; Python itself refuses past
  4,300 digits with a ValueError) or nesting deeper than the decoder's recursion limit is refused, never a 500.
- A POST body must be one JSON object (no batching): `42`, `"x"`, `false`, `null`, `[]`, `[1, 2]` are 400.
- Media types: `Accept: application/graphql-response+json` gets that type, and a request error (parse, validation,
  variable coercion: the errors raised before execution, which carry no `path`) gets 400. `application/json` (or
  `*/*`, or no Accept) keeps the legacy 200 for those, as the spec asks. Either way a request that failed before
  execution has no `data` key (GraphQL spec, Response Format).
- A document whose operation cannot be chosen (several operations and no `operationName`, or an unknown name) is
  400 whatever the media type (schema/documents.py refuses it before anything runs).
- A mutation sent with GET is 405 with `Allow: POST`.
- Every refusal is a JSON body `{"errors": [{"message", "extensions": {"code": "BAD_INPUT", ...}}]}`, never
  Strawberry's plain-text reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response

from schema.documents import OperationNotChosen

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
# The longest integer any argument takes: BigInt is a Clarity uint (< 2^128, 39 digits), Int is 32-bit. Longer
# JSON integers are refused while decoding, so no code ever converts 4,300 digits (Python's own limit).
MAX_INTEGER_DIGITS = 39


class RequestRefused(Exception):
    """A request answered before any GraphQL runs: an HTTP status and one coded error."""

    def __init__(
        self,
        status: int,
        message: str,
        extensions: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extensions: dict[str, object] = {"code": "BAD_INPUT", **(extensions or {})}
        self.headers = dict(headers or {})


class UndecodableJson(json.JSONDecodeError):
    """JSON the service will not decode. A JSONDecodeError, so Strawberry's WebSocket handlers treat it as a
    message that is not JSON (graphql-transport-ws closes with 4400); `extensions` names the bound."""

    def __init__(self, message: str, extensions: Mapping[str, object] | None = None) -> None:
        super().__init__(message, "", 0)
        self.message = message
        self.extensions = dict(extensions or {})


class _IntegerTooLong(Exception):
    pass


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _IntegerTooLong
    return int(digits)


def decode_json(data: str | bytes) -> object:
    """`json.loads`, refusing what would otherwise escape as a ValueError, RecursionError or UnicodeDecodeError."""
    try:
        return json.loads(data, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise UndecodableJson(f"the request is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except UnicodeDecodeError as exc:
        raise UndecodableJson(f"the request is not UTF-8 ({exc.reason})") from None
    except _IntegerTooLong:
        raise UndecodableJson(
            f"the request holds an integer of more than {MAX_INTEGER_DIGITS} digits, larger than any argument takes",
            {"limit": "maxIntegerDigits", "max": MAX_INTEGER_DIGITS},
        ) from None
    except RecursionError:
        raise UndecodableJson("the request's JSON is nested too deeply", {"limit": "maxJsonNesting"}) from None
    except ValueError as exc:  # any other value the decoder cannot build
        raise UndecodableJson(f"the request's JSON cannot be decoded ({str(exc)[:80]})") from None


def refused_json(exc: UndecodableJson) -> RequestRefused:
    return RequestRefused(400, exc.message, exc.extensions)


def request_body(value: object) -> dict[str, Any]:
    """The decoded POST body, which must be one GraphQL request: a JSON object."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        raise RequestRefused(400, "batched requests are not supported: send one operation as a JSON object")
    raise RequestRefused(400, f"the request body must be a JSON object, not {_json_type(value)}")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "this"


def response_media_type(request: Request) -> str:
    """`application/graphql-response+json` when the client lists it before (or without) `application/json`."""
    accept = request.headers.get("accept", "")
    preferred = accept.find(GRAPHQL_RESPONSE_JSON)
    if preferred < 0:
        return APPLICATION_JSON
    legacy = accept.replace(GRAPHQL_RESPONSE_JSON, " " * len(GRAPHQL_RESPONSE_JSON)).find(APPLICATION_JSON)
    return GRAPHQL_RESPONSE_JSON if legacy < 0 or preferred < legacy else APPLICATION_JSON


def failed_before_execution(data: object, errors: list[GraphQLError] | None) -> bool:
    """A request error (syntax, validation, variable coercion, operation choice): no data and no error from a
    field (graphql-core gives every field error a path)."""
    return data is None and bool(errors) and all(error.path is None for error in errors or ())


def result_status(media_type: str, errors: list[GraphQLError] | None, before_execution: bool) -> int:
    if before_execution and any(isinstance(error, OperationNotChosen) for error in errors or ()):
        return 400
    if before_execution and media_type == GRAPHQL_RESPONSE_JSON:
        return 400
    return 200


def error_response(request: Request, refused: RequestRefused, encode: Any) -> Response:
    body = {"errors": [{"message": refused.message, "extensions": refused.extensions}]}
    media_type = response_media_type(request)
    return Response(
        encode(body), status_code=refused.status, media_type=f"{media_type}; charset=utf-8", headers=refused.headers
    )
