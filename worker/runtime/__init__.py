"""The Celery runtime: the app, retry policy, task messages, dead letters, the Celery dispatcher and the
providers (the process-wide Redis, Wix client, dispatcher)."""
