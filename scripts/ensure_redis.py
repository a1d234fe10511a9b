"""Make sure a Redis server answers on 127.0.0.1:6379 before the tests run.

The tests need a real Redis. On this project's machines one is already running; on a
newcomer's machine with ``redis-server`` installed but stopped, this starts one that
keeps nothing on disk. It never fails the build itself: the test suite decides whether
a missing Redis is a skip (local) or a failure (``CI=true``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time

HOST, PORT = "127.0.0.1", 6379


def answers() -> bool:
    """Return True when a Redis server replies ``+PONG`` on HOST:PORT."""
    try:
        with socket.create_connection((HOST, PORT), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def main() -> int:
    if answers():
        return 0
    server = shutil.which("redis-server")
    if server is None:
        print(
            "ensure_redis: no Redis on 127.0.0.1:6379 and no redis-server to start", file=sys.stderr
        )
        return 0
    workdir = tempfile.mkdtemp(prefix="rebellion-redis-")
    subprocess.run(
        [
            server,
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            str(PORT),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        check=False,
    )
    for _ in range(50):
        if answers():
            print(f"ensure_redis: started redis-server on {HOST}:{PORT}")
            return 0
        time.sleep(0.1)
    print("ensure_redis: redis-server did not answer within 5 s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
