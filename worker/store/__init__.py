"""The Redis store: members' progress, the event journal, API keys, the outbox."""
