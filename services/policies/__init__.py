"""Policy workflows: quotes, creation, settlement and expiry, and the list queries (the status machine and the
policy record they move are services.core's)."""
