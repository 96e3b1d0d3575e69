"""The `spikenas` command: serve | demo | search | train.

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
    search = commands.add_parser("search", help="run one search job without the server")
    search.add_argument("spec", help="a job spec as JSON (the body of POST /api/jobs)")
    search.set_defaults(func=_search)
    train = commands.add_parser("train", help="train one architecture and print its metrics")
    _add_train_arguments(train)
    train.set_defaults(func=_train)
    return parser


def _search(args: argparse.Namespace) -> int:
    from service.search_cmd import main as search_main

    return search_main(args)


def _train(args: argparse.Namespace) -> int:
    from service.train_cmd import run_train

    return run_train(args)


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    # Declared here rather than in train_cmd, which imports torch: `spikenas --help` stays fast.
    parser.add_argument("spec", help="an architecture spec as JSON (a trial's `arch`)")
    parser.add_argument("--dataset", default="digits", help="digits, or the path of an npz file")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--loss", default="ce", help="ce, tet, sml or sml+tet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="a folder for model.py and weights.pt")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        help="write the training state into --out every K epochs and after the last (0: none)",
    )
    parser.add_argument(
        "--resume",
        help="a train_state.pt, or its folder, to continue from (same spec, options and seed)",
    )
    parser.add_argument(
        "--train-fraction",
        type=float,
        default=1.0,
        help="train on a stratified, seeded share of the training split (0 < f <= 1)",
    )


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
