"""The ``rebellion`` command line: ``serve``, ``demo`` and ``config``.

>>> main(["config"]) == 0  # doctest: +ELLIPSIS
REBELLION_ALLOWED_HOSTS=...
True

Every command first checks the ``REBELLION_*`` environment, so a typo in a variable
name or a bad value fails at once with exit code 2 and a message on stderr. Invalid
arguments get argparse's error (exit code 2); Ctrl-C ends a demo with exit code 130
after printing its summary.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from . import __version__, config
from .errors import ConfigError

__all__ = ["build_parser", "main"]

EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def _positive(text: str) -> float:
    """Parse a finite number > 0 (argparse turns the error into a usage message)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``rebellion`` command.

    Returns:
        A parser whose subcommands set ``args.command``.
    """
    parser = argparse.ArgumentParser(
        prog="rebellion", description="System Rebellion: resilience toolkit and monitor."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        help="TOML configuration file (default: REBELLION_CONFIG)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="watch a circuit breaker open, half-open and close on a simulated downstream",
        description="Call a simulated flaky downstream through "
        "Pipeline(Fallback, Retry, CircuitBreaker, Timeout) and show what happens.",
    )
    demo.add_argument(
        "--duration",
        type=_positive,
        default=30.0,
        metavar="SECONDS",
        help="how long to run (default: 30)",
    )
    demo.add_argument(
        "--seed", type=int, default=None, metavar="N", help="seed for a repeatable run"
    )
    demo.add_argument(
        "--rate",
        type=_positive,
        default=200.0,
        metavar="CALLS_PER_SECOND",
        help="calls offered per second (default: 200)",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="also run the monitor (dashboard on --port) and repeat the demo until Ctrl-C",
    )
    demo.add_argument(
        "--port", type=int, default=8765, help="monitor port with --serve (default: 8765)"
    )
    demo.add_argument(
        "--no-live",
        action="store_true",
        help="print plain progress lines instead of the live view (implied without a TTY)",
    )
    serve = commands.add_parser(
        "serve",
        help="run the monitor: live dashboard, API, WebSocket stream and /metrics",
        description="Sample this host every INTERVAL seconds, analyse and keep the history, "
        "and serve the dashboard, the HTTP API, the WebSocket stream and /metrics.",
    )
    serve.add_argument("--host", default=None, help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to bind (default: 8765)")
    serve.add_argument(
        "--db", default=None, metavar="PATH", help="history file (default: rebellion-monitor.db)"
    )
    serve.add_argument(
        "--token",
        default=None,
        help="access token (or REBELLION_TOKEN); required for a non-loopback --host",
    )
    serve.add_argument(
        "--interval",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="seconds between samples (default: 1)",
    )
    serve.add_argument(
        "--warmup",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="seconds of history before anomalies and incidents count (default: 60; "
        "the anomaly detectors' own warm-up)",
    )
    serve.add_argument(
        "--otlp",
        default=None,
        metavar="URL",
        help="also send host and policy metrics to this OTLP/HTTP receiver, e.g. "
        "http://127.0.0.1:4318 (default: OTEL_EXPORTER_OTLP_ENDPOINT if set)",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="extra browser origin allowed to open the WebSocket (repeatable)",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=None,
        metavar="HOST",
        help="extra Host name answered besides loopback ones and the bound address, "
        "e.g. monitor.lan or .example.com (repeatable; or REBELLION_ALLOWED_HOSTS)",
    )
    serve.add_argument(
        "--publish",
        default=None,
        metavar="REDIS_URL",
        help="also publish this host's samples, incidents and primitives to the fleet on "
        "Redis (an agent; local monitoring goes on whatever Redis does)",
    )
    serve.add_argument(
        "--host-id",
        default=None,
        metavar="ID",
        help="this host's id in the fleet (default: the host name)",
    )
    serve.add_argument(
        "--fleet",
        default=None,
        metavar="REDIS_URL",
        help="be a hub: show every host and process of the fleet on Redis "
        "(GET /api/v1/fleet and the dashboard's fleet panel)",
    )
    commands.add_parser(
        "config",
        help="print every REBELLION_* setting and its current value",
        description="Print every REBELLION_* setting with its current value and source.",
    )
    return parser


def _shown(key: str, value: object) -> str:
    """Return ``value`` as printed by ``config``, with secrets masked."""
    if value is None:
        return "(unset)"
    if key == "token":
        return "********"
    text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    if key.endswith("_url"):
        parts = urlsplit(text)
        if parts.password:
            host = parts.netloc.rsplit("@", 1)[-1]
            user = parts.username or ""
            text = urlunsplit(parts._replace(netloc=f"{user}:********@{host}"))
    return text


def _config(out: IO[str]) -> int:
    explicit = config.validate_environment()
    loaded = config.current_config()
    for spec in config.describe_settings():
        value = explicit.get(spec.key, spec.default)
        source = "environment" if spec.key in explicit else "default"
        if spec.key not in explicit and loaded is not None:
            found, from_file = loaded.default_for(spec.key)
            if found:
                value, source = from_file, loaded.path
        print(f"{spec.env}={_shown(spec.key, value)}  # {source}; {spec.rule}", file=out)
    return 0


def _demo(args: argparse.Namespace, out: IO[str]) -> int:
    from ._demo_view import format_summary, run_live, run_plain
    from .demo import DemoSimulation

    if args.serve:
        return _demo_served(args, out)
    sim = DemoSimulation(duration=args.duration, rate=args.rate, seed=args.seed)
    live = not args.no_live and out.isatty()
    interval = 1.0 if args.duration > 5 else 0.5
    interrupted = False
    try:
        asyncio.run(run_live(sim, out) if live else run_plain(sim, out, interval))
    except KeyboardInterrupt:
        interrupted = True
    print(
        format_summary(sim.snapshot(all_transitions=True), interrupted=interrupted),
        file=out,
        flush=True,
    )
    return EXIT_INTERRUPTED if interrupted else 0


def _demo_served(args: argparse.Namespace, out: IO[str]) -> int:
    """Run the demo again and again beside the monitor, so the dashboard shows it live."""
    from ._demo_view import run_plain
    from .demo import DemoSimulation

    try:
        import uvicorn

        from .monitor.server import ServeOptions, build, install_redaction
    except ImportError as error:
        print(f"rebellion: demo --serve needs the 'server' extra ({error.name})", file=sys.stderr)
        return EXIT_CONFIG
    options = ServeOptions(port=args.port, db=":memory:").checked()

    async def both() -> None:
        app, _ = build(options)
        install_redaction()
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=options.host,
                port=options.port,
                log_level="warning",
                ws_per_message_deflate=False,
            )
        )
        serving = asyncio.create_task(server.serve())
        print(f"dashboard: http://{options.host}:{options.port}/", file=out, flush=True)
        try:
            while not serving.done():
                sim = DemoSimulation(duration=args.duration, rate=args.rate, seed=args.seed)
                await run_plain(sim, out, 1.0)
        finally:
            server.should_exit = True
            await serving

    try:
        asyncio.run(both())
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from .monitor.server import DEFAULT_DB, ServeOptions, serve
    except ImportError as error:
        print(
            f"rebellion: serve needs the 'server' extra ({error.name} is missing): "
            "pip install 'system-rebellion[server]'",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    # Command-line flags win over REBELLION_* variables and the configuration file.
    monitor = config.config_settings("monitor")

    def pick(flag: object, key: str, default: object) -> Any:
        return monitor.get(key, default) if flag is None else flag

    options = ServeOptions(
        host=pick(args.host, "host", "127.0.0.1"),
        port=pick(args.port, "port", 8765),
        db=pick(args.db, "db", DEFAULT_DB),
        token=pick(args.token, "token", None),
        interval=pick(args.interval, "interval", 1.0),
        allowed_origins=tuple(pick(args.allow_origin, "allow_origin", ())),
        allowed_hosts=tuple(pick(args.allow_host, "allow_host", ())),
        warmup=args.warmup,
        otlp=args.otlp,
        publish=pick(args.publish, "publish", None),
        fleet=pick(args.fleet, "fleet", None),
        host_id=pick(args.host_id, "host_id", None),
    ).checked()
    try:
        serve(options)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the ``rebellion`` command line.

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, 2 for bad arguments or configuration, 130 when
        interrupted with Ctrl-C.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version and argparse errors
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    out = sys.stdout
    try:
        config.validate_environment()
        if args.config is not None:
            config.load_config(args.config)
        if args.command == "config":
            return _config(out)
        if args.command == "serve":
            return _serve(args)
        return _demo(args, out)
    except ConfigError as error:
        print(f"rebellion: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    raise SystemExit(main())
