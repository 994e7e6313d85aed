"""`ssamt serve`: the search web app over an index folder (FastAPI + uvicorn).

    ssamt serve --index index/synth              # then open http://127.0.0.1:8000
    ssamt serve --index index/coco --images-root ~/coco/images --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import socket

from ssamt.commands.common import (
    add_searcher_arguments,
    check_searcher_arguments,
    resolve_device,
)

HELP = "web app over an index: search box, result grid, re-ranking toggle, explanations"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, metavar="INDEX_DIR",
                        help="index folder written by `ssamt index`")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--images-root", default=None, metavar="DIR",
                        help="folder of the original pictures (COCO, Flickr30K) to show them")
    add_searcher_arguments(parser)


def check_port(host: str, port: int) -> None:
    """SsamtError with one clear line when the port cannot be bound (taken, or privileged),
    before minutes of loading; uvicorn's own message is a traceback-like log."""
    from ssamt.errors import ConfigError

    if not 0 < port < 65536:
        raise ConfigError(f"--port must be in 1..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if os.name == "posix":  # bind as uvicorn does: a port whose last connections wait
            # in TIME_WAIT (a server just stopped) is free for it; one listened on is not
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is already in use (another server?):"
                                  f" choose another with --port") from None
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def keep_log_record(record: logging.LogRecord) -> bool:
    """The filter on uvicorn's error log: False (dropped) for its report of a task cancelled
    because the server is stopping. A second Ctrl-C forces the stop, and asyncio then
    cancels the lifespan task and any request in flight: their tracebacks are the shutdown
    itself, not an error of the app (those the console still shows)."""
    if record.exc_info and isinstance(record.exc_info[1], (asyncio.CancelledError,
                                                           KeyboardInterrupt)):
        return False
    text = record.getMessage().rstrip()  # Starlette hands over its lifespan traceback as text
    return not (text.startswith("Traceback")
                and text.endswith(("CancelledError", "KeyboardInterrupt")))


def serve_until_stopped(app: object, host: str, port: int) -> None:
    """uvicorn until Ctrl-C (once: a graceful stop; twice: at once, without a traceback)."""
    import uvicorn

    from ssamt.errors import SsamtError

    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    errors = logging.getLogger("uvicorn.error")  # (configured by Config: filter it after)
    if keep_log_record not in errors.filters:
        errors.addFilter(keep_log_record)
    server = uvicorn.Server(config)
    try:
        server.run()
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass  # uvicorn re-raises the Ctrl-C it caught once it has stopped
    if not server.started and not server.should_exit:
        raise SsamtError(f"the server could not start on {host}:{port} (see the line above)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ssamt.errors import SsamtError

    check_searcher_arguments(args)
    check_port(args.host, args.port)
    if args.images_root is not None and not Path(args.images_root).is_dir():
        raise SsamtError(f"--images-root {args.images_root} is not a folder")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401

        from ssamt.serve.app import Gallery, create_app
    except ImportError:
        raise SsamtError("serve needs fastapi and uvicorn: pip install 'ssamt[serve]'") from None
    from ssamt.search import Searcher

    searcher = Searcher.open(args.index, device=resolve_device(args.device),
                             checkpoint=args.checkpoint, data=args.data, threads=args.threads)
    gallery = Gallery(searcher, args.images_root)
    if args.host not in LOCAL_HOSTS:
        print(f"note: listening on {args.host}: other machines can reach this server")
    print(f"serving {args.index} at http://{args.host}:{args.port} (API docs at /docs); "
          "Ctrl-C stops", flush=True)
    serve_until_stopped(create_app(gallery), args.host, args.port)
    gallery.close_console()
    print("ssamt serve: stopped", flush=True)
    return 0
