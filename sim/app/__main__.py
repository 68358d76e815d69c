"""python -m sim.app: start the workshop app (Solara) and print its address.

Binds to 127.0.0.1 unless --host says otherwise. Offline by design: Solara's front-end files
come from the `solara-assets` package inside this environment (Solara looks there before its
CDN), and telemetry is switched off, so the page needs no internet at all.
"""

from __future__ import annotations

import argparse
import os
import sys


def environment() -> dict[str, str]:
    """The server's environment: telemetry off (Solara would otherwise call Mixpanel)."""
    return {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false"}


def command(host: str, port: int, open_browser: bool) -> list[str]:
    """The `solara run` command for the page (production mode: no auto-reload, no dev tools; no
    check of PyPI for a newer Solara, which would be a call off the machine)."""
    cmd = [sys.executable, "-m", "solara", "run", "sim.app.page", "--host", host, "--port", str(port),
           "--production", "--no-check-version"]
    return cmd if open_browser else [*cmd, "--no-open"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.app",
                                description="The 政银担 teaching workshop app in the browser.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for a classroom)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--no-open", action="store_true", help="do not open a browser window")
    a = p.parse_args(argv)
    try:
        import solara  # noqa: F401
        import solara_assets  # noqa: F401
    except ImportError as e:
        print(f"sim.app: error: {e.name} is not installed; install the app extra: pip install -e '.[app]'",
              file=sys.stderr)
        return 2
    print(f"sim.app: the workshop app at http://{a.host}:{a.port} (Ctrl-C stops it)", flush=True)
    os.execvpe(sys.executable, command(a.host, a.port, not a.no_open), environment())
    return 0  # not reached: exec replaces this process


if __name__ == "__main__":
    sys.exit(main())
