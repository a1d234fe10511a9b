"""Install Debian's Chromium for the dashboard's browser test when it is missing.

The test drives ``/usr/bin/chromium`` through the ``playwright`` package (no browser
download). On a Debian-like machine where we are root (or have password-less sudo),
this installs the ``chromium`` package; anywhere else it prints what to do and lets
the test suite decide (skip locally, fail under ``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def main() -> int:
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return 0
    if shutil.which("apt-get") is None:
        print("ensure_chromium: no chromium and no apt-get; install Chromium by hand")
        return 0
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            print("ensure_chromium: not root and no sudo; install the chromium package")
            return 0
        prefix = ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("ensure_chromium: installing Debian's chromium package", flush=True)
    command = [*prefix, "apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    done = subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL)
    if done.returncode != 0:
        subprocess.run([*prefix, "apt-get", "update", "-q"], env=env, check=False)
        subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
