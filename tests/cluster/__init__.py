"""Private test servers on loopback: a Slurm cluster (slurm.sh) and an OpenSSH server.

Each lives in a folder of its own, listens on free ports, uses its own keys and sockets, and
stops exactly what it started; none reads or writes the machine's own configuration, so
several test sessions can run side by side. See docs/testing.md.
"""
