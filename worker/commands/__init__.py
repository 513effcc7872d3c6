"""The CLI's command groups, one module each, each exposing `register(commands)` (see worker/cli.py)."""
