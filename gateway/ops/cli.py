"""The `a2a-gateway` command: `serve` (serve.py; workers.py with `--workers`), and the client
commands of a2a_client/commands.py. The flags are flags.py's; `main` is the console script."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from a2a_client import commands as client_commands
from gateway.ops import logs, tracing
from gateway.ops.config import ConfigError, load
from gateway.ops.flags import build_parser
from gateway.ops.overrides import flag_overrides
from gateway.ops.serve import run, serve
from gateway.ops.workers import serve_workers

# The server stack (uvicorn, the app, FastAPI, gRPC) is imported by the functions that serve:
# a client command (`call`, `agents`, ...) starts in a fraction of the time without it.


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the signal it drained on once it is done: that means exit 0."""
    raise SystemExit(0)


def _refuse(exc: ConfigError, path: str | None) -> int:
    source = f" ({path})" if path else ""
    lines = "".join(f"\n  {line}" for line in str(exc).splitlines())
    print(f"a2a-gateway: invalid configuration{source}:{lines}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.command in client_commands.NAMES:
        return client_commands.run(args)
    try:
        settings = load(args.config, overrides=flag_overrides(args))
        if settings.auth.enabled:
            from gateway.http.auth import load_keys

            load_keys(settings.auth)  # fail now, with a message, on a bad key file
        tracing.resolve(settings.tracing, os.environ)  # likewise on a bad OTEL_* protocol
    except ConfigError as exc:
        return _refuse(exc, args.config)
    except (ValueError, OSError) as exc:
        print(f"a2a-gateway: {exc}", file=sys.stderr)
        return 2
    logs.configure(args.log_level, args.log_format)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        if settings.workers > 1:
            serve_workers(settings, args.log_level, argv)
        else:
            run(serve(settings, args.log_level))
    except ConfigError as exc:
        return _refuse(exc, args.config)
    except OSError as exc:
        where = f"{settings.host}:{settings.port}"
        print(f"a2a-gateway: cannot listen on {where}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
