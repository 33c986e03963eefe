"""Free TCP ports for the private test servers (Slurm, slurmdbd, MariaDB, sshd).

Ports are drawn at random from 61000-65535: above Linux's ephemeral range (32768-60999), so
outgoing connections, which take their local ports from that range, cannot hold them between
the pick and the daemon's bind; and clear of the ports runspec's jobs use on a node
(``MASTER_PORT`` = 20000 + job id % 10000, Ray's dashboard and client ports 10000 and 20000
above it) and of Ray's worker ports (10002-19999). Several clusters starting at once rarely
draw the same port; a daemon that loses the race fails to bind and its cluster retries with
new ones. A port counts as free when it can be bound on every address (daemons such as
slurmctld listen on all of them).

    python3 tests/cluster/ports.py COUNT     # prints COUNT distinct free ports, one a line
"""

from __future__ import annotations

import random
import socket
import sys

__all__ = ["free_ports"]

LOW, HIGH = 61000, 65535
ATTEMPTS = 1000


def _bindable(port: int) -> bool:
    """Whether nothing listens on or is bound to ``port`` (any address, TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> tuple[int, ...]:
    """``count`` distinct ports that are free right now."""
    chosen: list[int] = []
    for _ in range(ATTEMPTS):
        port = random.randint(LOW, HIGH)
        if port not in chosen and _bindable(port):
            chosen.append(port)
            if len(chosen) == count:
                return tuple(chosen)
    raise OSError(f"no {count} free TCP ports between {LOW} and {HIGH}")


def main(argv: list[str]) -> int:
    """Print the ports, one a line."""
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: ports.py COUNT", file=sys.stderr)
        return 2
    try:
        ports = free_ports(int(argv[0]))
    except OSError as error:
        print(f"ports.py: {error}", file=sys.stderr)
        return 1
    print("\n".join(map(str, ports)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
