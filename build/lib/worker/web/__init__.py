"""The HTTP side: the webhook receiver, the admin API and the operational endpoints."""
