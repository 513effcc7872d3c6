"""The Celery runtime: the app, task messages, dead letters, metrics, the Celery dispatcher and the
providers (the process-wide Redis, Wix client, dispatcher)."""
