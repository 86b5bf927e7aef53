"""The service's pure core: value types, the status machine, the visibility rule, error classes, the clock.

Nothing here imports another package of the project, a driver, the network or GraphQL (docs/architecture.md)."""
