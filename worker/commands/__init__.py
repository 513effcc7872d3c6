"""`python -m worker` commands, one module each, each exposing `register(commands)` (worker/cli.py)."""
