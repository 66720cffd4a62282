#!/usr/bin/env python3
"""`make demo`: a private Mosquitto, central (SQLite) and a simulated Sampit fleet on loopback.

Everything lives under ./run/demo/ (broker files, passwords, registry, database, logs, node
state). Ctrl-C (or SIGTERM, or --duration) stops the fleet, central and the broker cleanly.
Run it with any python3: it creates .venv and installs kotanet first when needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
VPY = VENV / "bin" / "python"
STAMP = VENV / ".kotanet-installed"


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def bootstrap() -> None:
    """Create .venv and install kotanet when needed, then re-run this script inside it."""
    if not VPY.exists():
        print("demo: creating .venv", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pyproject = ROOT / "pyproject.toml"
    if not STAMP.exists() or STAMP.stat().st_mtime < pyproject.stat().st_mtime:
        print("demo: pip install -e '.[dev]'", flush=True)
        subprocess.run([str(VPY), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-e", ".[dev]"], check=True, cwd=ROOT)
        STAMP.touch()
    if not _in_venv():
        os.execv(str(VPY), [str(VPY), __file__, *sys.argv[1:]])


def ensure_mosquitto() -> None:
    """Install mosquitto with apt-get when root and missing; otherwise explain and exit."""
    if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists():
        return
    if os.geteuid() != 0:
        sys.exit("demo: mosquitto is not installed. Run once as root:\n"
                 "  sudo apt-get install -y mosquitto mosquitto-clients   (or: sudo make deps)")
    print("demo: installing mosquitto (apt-get)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "mosquitto",
                    "mosquitto-clients"], check=True, env=env)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The demo's command line."""
    p = argparse.ArgumentParser(
        description="Run the kotanet demo: private mosquitto + central + simulated Sampit fleet. "
                    "Everything under --dir; Ctrl-C stops it all.")
    p.add_argument("--nodes", type=int, default=20, help="simulated nodes (default 20)")
    p.add_argument("--dir", default=str(ROOT / "run" / "demo"), help="work dir (default run/demo)")
    p.add_argument("--http", default="127.0.0.1:8080",
                   help="API listen host:port (default 127.0.0.1:8080; a free port if taken)")
    p.add_argument("--interval", type=float, default=10.0,
                   help="sample interval s (default 10, the agent's shipped default)")
    p.add_argument("--keepalive", type=int, default=10, help="agents' MQTT keepalive s (default 10)")
    p.add_argument("--time-warp", type=float, default=1.0,
                   help="simulated day X times faster (e.g. 60: a day per 24 min)")
    p.add_argument("--duration", type=float, default=0.0,
                   help="stop by itself after S seconds (default 0: run until Ctrl-C)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Bootstrap, then hand over to the stack runner."""
    args = parse_args(argv)
    bootstrap()
    ensure_mosquitto()
    sys.path.insert(0, str(ROOT / "scripts"))
    from demo_stack import run_demo  # needs the venv (paho, kotanet)

    return run_demo(args)


if __name__ == "__main__":
    sys.exit(main())
