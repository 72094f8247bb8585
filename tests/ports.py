"""Ports for servers a test starts as a child process.

A port the kernel hands out for `bind(0)` comes from the ephemeral range, the same range every outgoing
connection takes its source port from. Between the probe closing and the child binding, another test's client
may take it ("Address already in use", seen in CI). Ports below that range are never given to outgoing
connections, so a free one stays free unless another server binds it on purpose.
"""
from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _below_ephemeral_range() -> range:
    try:
        low = int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return range(max(1024, low - 12000), low - 1)  # `- 1`: a pair's second port stays below it too


def free_ports(count: int = 1) -> int:
    """The first of `count` consecutive free loopback ports, all outside the ephemeral range."""
    candidates = _below_ephemeral_range()
    for _ in range(200):
        first = random.choice(candidates)
        probes: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return first
    raise RuntimeError(f"no {count} consecutive free ports below the ephemeral range")
