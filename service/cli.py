"""The `spikenas` command: serve | demo.

Errors reach the user as one line on stderr, never a traceback: exit code 2 for usage and
settings (a bad SPIKENAS_* value, a public address without a token), 1 for a failure.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

from pydantic import ValidationError

from service.settings import env_name
from spaces.errors import SpikenasError

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback one (an unresolvable name is not)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.db import get_engine
    from service.settings import get_settings

    settings = get_settings()
    if not settings.api_token and not is_loopback(args.host):
        print(
            f"spikenas serve: refusing to listen on {args.host} without SPIKENAS_API_TOKEN; "
            "set a token or bind a loopback address such as 127.0.0.1",
            file=sys.stderr,
        )
        return 2
    get_engine(settings.database_url)  # an unreachable database is one line here, not a trace
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from service.demo import main as demo_main

    return demo_main(args)


def build_parser() -> argparse.ArgumentParser:
    # demo.py is stdlib-only at import time: its options can be declared here cheaply.
    from service.demo import add_arguments as add_demo_arguments

    parser = argparse.ArgumentParser(prog="spikenas", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the REST API and the dashboard")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_serve)
    demo = commands.add_parser("demo", help="a real search on digits through the service")
    add_demo_arguments(demo)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValidationError as e:  # the settings, read from SPIKENAS_* variables
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        print(f"spikenas: {env_name(field)}: {first['msg']}", file=sys.stderr)
        return 2
    except (SpikenasError, OSError) as e:
        print(f"spikenas {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
