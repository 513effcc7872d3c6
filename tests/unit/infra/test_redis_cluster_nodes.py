"""The tests' own Redis Cluster (worker/infra/redis_cluster.py) starts even when a port it chose is taken
by the time its node binds, as another process of a busy test run may do."""

from __future__ import annotations

import socket
from pathlib import Path

import redis.cluster

from worker.infra.redis_cluster import RedisClusterNodes


def test_a_node_whose_port_was_taken_starts_again_on_other_ports(tmp_path: Path) -> None:
    nodes = RedisClusterNodes(tmp_path)
    taken = nodes.ports[0]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        url = nodes.start(timeout=20)
        try:
            assert taken not in nodes.ports
            client = redis.cluster.RedisCluster.from_url(url)
            try:
                client.set("k", "v")
                assert client.get("k") == b"v"
            finally:
                client.close()
        finally:
            nodes.stop()
