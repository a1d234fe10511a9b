"""Install the system programs the test suite drives, when they are missing.

The suite uses real components, not stand-ins: Debian's ``chromium`` for the dashboard's
browser tests (driven through the ``playwright`` package, with no browser download) and
``stress-ng`` as a load generator nobody here wrote, for the monitor's incident tests, and
``prometheus`` (with ``promtool``) to scrape a running monitor and evaluate the shipped
alerting rules.
On a Debian-like machine where we are root (or have password-less sudo) this installs
the missing packages in one ``apt-get`` call; anywhere else it says what to install and
lets the suite decide (skip locally, fail under ``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# Debian package -> the commands it provides (any one of them is enough).
PACKAGES: dict[str, tuple[str, ...]] = {
    "chromium": ("chromium", "chromium-browser"),
    "stress-ng": ("stress-ng",),
    "prometheus": ("prometheus",),
}


def missing() -> list[str]:
    """Return the Debian packages whose commands are not on PATH."""
    return [
        package
        for package, commands in PACKAGES.items()
        if not any(shutil.which(command) for command in commands)
    ]


def main() -> int:
    packages = missing()
    if not packages:
        return 0
    if shutil.which("apt-get") is None:
        print(f"ensure_system: no apt-get; install by hand: {' '.join(packages)}")
        return 0
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            print(f"ensure_system: not root and no sudo; install: {' '.join(packages)}")
            return 0
        prefix = ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"ensure_system: installing Debian's {', '.join(packages)}", flush=True)
    command = [*prefix, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    done = subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL)
    if done.returncode != 0:
        # A fresh machine's package lists may be missing or stale.
        subprocess.run([*prefix, "apt-get", "update", "-q"], env=env, check=False)
        subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
