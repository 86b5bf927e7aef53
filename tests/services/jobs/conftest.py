from tests.services.listener.conftest import chain, client

__all__ = ["chain", "client"]
