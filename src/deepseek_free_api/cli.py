"""Command line: ``deepseek-free-api serve``, ``keys``, ``accounts``, ``canary`` and ``simulate``."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    from deepseek_free_api import __version__

    parser = argparse.ArgumentParser(prog="deepseek-free-api", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the OpenAI/Anthropic-compatible server")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--config", default=None, help="TOML configuration file")
    serve.add_argument("--demo", action="store_true", help="run against an in-process simulator")
    serve.add_argument(
        "--log-format", choices=("text", "json"), default=None, help="json: one JSON object per log line"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the state store (SQLite or Redis; not memory://)",
    )
    serve.add_argument("--worker-fd", type=int, action="append", help=argparse.SUPPRESS)  # set by --workers
    from deepseek_free_api import account_commands, canary_command, key_commands

    key_commands.add_parser(sub)
    account_commands.add_parser(sub)
    canary_command.add_parser(sub)
    simulate = sub.add_parser("simulate", help="run the DeepSeek web simulator (for tests and demos)")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8100)
    simulate.add_argument("--config", default=None, help="simulator TOML file (default: the shipped demo)")
    return parser


def run_simulator(host: str, port: int, config_path: str | None) -> int:
    """Serve the simulator in the foreground until interrupted (SIGINT or SIGTERM)."""
    import tomllib

    import uvicorn

    from .simulator import SimulatorConfig, create_app

    try:
        config = SimulatorConfig.load(config_path) if config_path else SimulatorConfig.demo()
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        print(f"deepseek-free-api simulate: configuration error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from deepseek_free_api import heap

        heap.cap_arenas()  # before any thread: see heap's docstring
        heap.pause()  # until the server is up (heap.settle): start-up makes no garbage worth a walk
        from deepseek_free_api.server import run

        return run(
            host=args.host,
            port=args.port,
            config=args.config,
            demo=args.demo,
            log_format=args.log_format,
            workers=args.workers,
            worker_fd=args.worker_fd,
        )
    if args.command == "keys":
        from deepseek_free_api import key_commands

        return key_commands.run(args)
    if args.command == "accounts":
        from deepseek_free_api import account_commands

        return account_commands.run(args)
    if args.command == "canary":
        from deepseek_free_api import canary_command

        return canary_command.run(args)
    return run_simulator(args.host, args.port, args.config)
