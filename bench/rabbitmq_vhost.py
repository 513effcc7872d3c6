"""`make bench`'s RabbitMQ: prints the URL of a vhost of its own (`wrw-bench`, made with rabbitmqctl) on the
RabbitMQ at 127.0.0.1:5672 when there is one, or nothing (the RabbitMQ runs are then skipped): a fresh
machine has no RabbitMQ, and `make bench` must still run there.

Usage: python bench/rabbitmq_vhost.py   ->   amqp://guest:guest@127.0.0.1:5672/wrw-bench
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

HOST, PORT, VHOST = "127.0.0.1", 5672, "wrw-bench"


def rabbitmq_answers() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1):
            return True
    except OSError:
        return False


def main() -> int:
    if shutil.which("rabbitmqctl") is None or not rabbitmq_answers():
        print(f"bench: no RabbitMQ at {HOST}:{PORT} (or no rabbitmqctl): its runs skipped", file=sys.stderr)
        return 0
    for command in (["add_vhost", VHOST], ["set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"]):
        # add_vhost fails when the vhost is there already: that is fine, it is ours
        subprocess.run(["rabbitmqctl", *command], capture_output=True, timeout=60, check=False)
    print(f"amqp://guest:guest@{HOST}:{PORT}/{VHOST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
