"""A broken PostgreSQL peer and a fault-injecting proxy, for tests."""
