"""The GraphQL types: object types, inputs, enums, scalars and error coding. The root types live in
resolvers/root.py and the schema is assembled in policy_registry/graphql_schema.py.

`schema.graphql` beside this file is the exported SDL (`policy-registry export-schema`); a test keeps it fresh.
"""

from __future__ import annotations

from pathlib import Path

SDL_PATH = Path(__file__).with_name("schema.graphql")
