"""Command line: ``deepseek-free-api serve`` and ``deepseek-free-api simulate``."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    parser = argparse.ArgumentParser(prog="deepseek-free-api", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the OpenAI/Anthropic-compatible server")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--config", default=None, help="TOML configuration file")
    serve.add_argument("--demo", action="store_true", help="run against an in-process simulator")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        print("deepseek-free-api: the server is not built yet (Step 3).", file=sys.stderr)
        return 1
    return 2
