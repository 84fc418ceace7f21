"""A throwaway Redis Cluster on loopback: 3 masters and 3 replicas from the machine's ``redis-server``.

Made the way an operator makes one (``redis-cli --cluster create ...
--cluster-replicas 1 --cluster-yes``), with a short node timeout so a
killed master's replica is promoted within about two seconds. Tests kill
masters, wait for the promotion and move slots (``redis-cli --cluster
reshard``) through it.
"""

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.support.net import wait_for
from tests.support.throwaway import RedisServer

NODE_TIMEOUT_MS = 1000


def _node_port() -> int:
    """A free port whose cluster bus port (10,000 higher) is free too: below the ephemeral range, as the bus
    port must stay under 65,536."""
    while True:
        port = random.randrange(20_000, 30_000)
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port


def _cli() -> str:
    return shutil.which("redis-cli") or "redis-cli"


class RedisClusterServers:
    def __init__(self, masters: int = 3, replicas: int = 1) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mf-cluster-"))
        self.nodes = [self._node() for _ in range(masters * (1 + replicas))]
        self._replicas = replicas

    def _node(self) -> RedisServer:
        node = RedisServer(_node_port())
        node.options = (
            *("--cluster-enabled", "yes", "--cluster-config-file", str(self.root / f"nodes-{node.port}.conf")),
            *("--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--cluster-replica-validity-factor", "0"),
            *("--dir", str(self.root)),
        )
        return node

    @property
    def url(self) -> str:
        """``redis.url`` for ``redis.cluster``: two startup nodes (either finds the rest)."""
        return ",".join(f"redis://127.0.0.1:{node.port}/0" for node in self.nodes[:2])

    def start(self) -> "RedisClusterServers":
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [_cli(), "--cluster", "create", *addresses, "--cluster-replicas", str(self._replicas), "--cluster-yes"],
            check=True,
            capture_output=True,
        )
        wait_for(self._settled, timeout=30, message="the cluster's slots served and its replicas in sync")
        return self

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

    def _alive(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.process and node.process.poll() is None]

    def _settled(self) -> bool:
        """Every live node says the cluster is ok and sees the same masters, each with its slots, and every
        replica is in sync with its master."""
        try:
            views = {tuple(sorted(self._masters_seen_by(node.port))) for node in self._alive()}
            states = {self.client(node.port).cluster("info")["cluster_state"] for node in self._alive()}
            links = [self.client(node.port).info("replication") for node in self._alive()]
        except (redis.RedisError, OSError):
            return False
        synced = all(link["role"] == "master" or link.get("master_link_status") == "up" for link in links)
        return states == {"ok"} and len(views) == 1 and synced

    def _masters_seen_by(self, port: int) -> list[int]:
        nodes = self.client(port).cluster("nodes")
        return [
            int(address.split(":")[1].split("@")[0])
            for address, node in nodes.items()
            if "master" in node["flags"] and "fail" not in node["flags"] and node["slots"]
        ]

    def masters(self) -> list[int]:
        """The ports of the masters serving slots now."""
        return sorted(self._masters_seen_by(self._alive()[0].port))

    def node_id(self, port: int) -> str:
        return self.client(port).cluster("myid").decode()

    def master_of(self, key: str) -> int:
        slot = self.client(self._alive()[0].port).cluster("keyslot", key)
        for address, node in self.client(self._alive()[0].port).cluster("nodes").items():
            if "master" in node["flags"] and any(
                int(r[0]) <= slot <= int(r[-1]) for r in (s if isinstance(s, list) else [s] for s in node["slots"])
            ):
                return int(address.split(":")[1].split("@")[0])
        raise AssertionError(f"no master serves {key}'s slot {slot}")

    def node(self, port: int) -> RedisServer:
        return next(node for node in self.nodes if node.port == port)

    def replica_of(self, port: int) -> RedisServer:
        master = self.node_id(port)
        for node in self._alive():
            if self.client(node.port).info("replication").get("master_port") == port:
                return node
        raise AssertionError(f"no replica follows {port} ({master})")

    def wait_promoted(self, port: int) -> None:
        """After ``port``, a master, was killed: until its replica has been promoted and every node agrees."""
        wait_for(
            lambda: port not in self.masters() and self._settled(),
            timeout=15,
            message=f"the replica of {port} promoted",
        )

    def reshard(self, from_port: int, to_port: int, slots: int) -> None:
        """Move ``slots`` slots (and their keys, by MIGRATE) from one master to another, as an operator does."""
        subprocess.run(
            [
                *(_cli(), "--cluster", "reshard", f"127.0.0.1:{self._alive()[0].port}"),
                *("--cluster-from", self.node_id(from_port), "--cluster-to", self.node_id(to_port)),
                *("--cluster-slots", str(slots), "--cluster-yes", "--cluster-pipeline", "100"),
            ],
            check=True,
            capture_output=True,
        )

    def destroy(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(OSError):
                node.kill()
        shutil.rmtree(self.root, ignore_errors=True)
