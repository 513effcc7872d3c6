"""`python -m worker` subcommands, one module per capability; each exposes `register(commands)`."""
