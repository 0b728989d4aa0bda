"""``python -m bi up|stop|status|catalog`` (what ``make bi`` and ``make bi-stop`` run)."""

from __future__ import annotations

import argparse
import sys
import time

from andon.config import settings
from bi import provision, server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bi", description="The analysts' Superset")
    parser.add_argument("command", choices=["up", "stop", "status", "catalog"])
    parser.add_argument("--port", type=int, default=server.DEFAULT_PORT)
    args = parser.parse_args(argv)
    cfg = settings()
    paths = server.BiPaths.of(cfg)
    if args.command == "stop":
        if not server.stop(paths):
            print("Superset is not running (no live PID in " + str(paths.pid_file) + ")")
        return 0
    if args.command == "status":
        pid = server.running_pid(paths)
        print(f"running (pid {pid})" if pid else "not running")
        return 0 if pid else 1
    started = time.monotonic()
    if args.command == "catalog":
        counts = provision.refresh_catalog(cfg, paths)
        print(f"catalog {paths.catalog}: {len(counts)} views")
        return 0
    url, summary = provision.up(cfg, paths, port=args.port)
    print("")
    print(f"Superset:  {url}/dashboard/list/   (took {time.monotonic() - started:.0f} s)")
    print(f"login:     {server.ADMIN_USER} / {server.admin_password()}")
    print(f"demo users: analyst, leadership, supplier_<id> ({len(summary['suppliers'])} suppliers; "
          f"row-level security on {', '.join(summary['rls_datasets'])}), password {provision.demo_password()}")
    print(f"data:      {summary['views']} views over the gold Delta tables in {paths.catalog}")
    print(f"dashboards: {', '.join(summary['dashboards'])}")
    print("stop:      make bi-stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
