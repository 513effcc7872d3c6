"""One webhook event: process it, and the program's rules that turn it into logs."""
