"""Infrastructure: Redis clients and health, embedded Redis, logging, error reporting."""
