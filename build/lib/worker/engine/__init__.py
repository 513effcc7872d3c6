"""The domain engine: plain Python that knows nothing of Celery, HTTP or Redis.

Given a program's definitions, a member's progress and a log, it computes the new progress and the
answer; the store (`worker.store`) applies the result atomically.
"""
