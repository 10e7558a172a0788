"""``grader serve``: the web service with its own grading processes (one command runs everything), or,
with ``--worker``, only grading processes that pull jobs from a shared queue and database."""
from __future__ import annotations

import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path

from grader.errors import GraderError
from grader.serve.config import ServeConfig, load_config


# The serve extra's import names (pyproject.toml [project.optional-dependencies] serve).
LIBRARIES = ("starlette", "uvicorn", "jinja2", "multipart", "itsdangerous", "sqlalchemy", "psycopg", "celery", "redis")


def missing_libraries() -> list[str]:
    import importlib.util

    return [name for name in LIBRARIES if importlib.util.find_spec(name) is None]


def settings_from(args) -> ServeConfig:
    """The config file's settings, the command line's on top; ``--demo`` without ``--data`` uses a fresh temp folder."""
    data = args.data or (Path(tempfile.mkdtemp(prefix="grader-serve-demo-")) if args.demo and not args.config else None)
    if args.config is None and data is None:
        raise GraderError("grader serve needs --config serve.toml, --data DIR, or --demo (see docs/serve.md)")
    config = load_config(args.config, data) if args.config else ServeConfig(data=Path(data))
    for name in ("host", "port", "workers", "queue", "database", "base_url"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(config, name, value)
    if args.demo and args.demo_rate is not None:
        config.uploads_per_window = args.demo_rate
    return config.check("grader serve")


def run(args) -> int:
    config = settings_from(args)
    if config.workers:
        check_sandbox(config)
    if args.worker:
        return run_workers(config)
    import uvicorn

    from grader.serve.app import build_service, create_app
    from grader.serve.demo import setup_demo

    listening = _bind(config.host, config.port)
    config.port = listening.getsockname()[1]
    svc = build_service(config, say=_say)
    if args.demo:
        students, instructor = setup_demo(svc, args.demo_students)
        for token in students:
            print(f"student token: {token}")
        print(f"instructor token: {instructor}")
    print(f"grader serve: {config.public_url} ({config.queue} queue, {config.workers} grading process(es), "
          f"data in {config.data}); stop with Ctrl-C", flush=True)
    # Idle keep-alive connections are kept 75 s (nginx's own default), longer than a proxy's or client's idle
    # timeout: a request is then never sent on a connection the server has just closed.
    server = uvicorn.Server(uvicorn.Config(create_app(svc), log_level="warning", access_log=False, lifespan="on",
                                           proxy_headers=True, timeout_graceful_shutdown=10,
                                           timeout_keep_alive=75))
    server.run(sockets=[listening])
    svc.store.close()
    return 0


def run_workers(config: ServeConfig) -> int:
    """Only grading processes (a machine added to a course's Redis queue and PostgreSQL database)."""
    from grader.serve.engines import engine_for
    from grader.serve.storage import Store
    from grader.serve.supervisor import Supervisor

    if config.workers < 1:
        raise GraderError("grader serve --worker needs --workers 1 or more")
    store = Store(config.database_url)
    engine = engine_for(config.queue, store)
    hide = [str(config.data)] if config.data.exists() else []
    supervisor = Supervisor(config.workers, store, engine.publish, database=config.database_url, queue=config.queue,
                            hide=hide, lease_seconds=config.lease_seconds, say=_say).start()
    print(f"grader serve --worker: {config.workers} grading process(es) on the {config.queue} queue; stop with "
          "Ctrl-C", flush=True)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    stop.wait()
    supervisor.stop()
    store.close()
    return 0


def check_sandbox(config: ServeConfig) -> None:
    """Students' uploads are graded only with every essential sandbox layer: there is no --insecure here."""
    from grader.runner import missing_layers_here
    from grader.serve.config import installed_assignments

    served = list(installed_assignments(config.assignments).values())
    if not served:
        raise GraderError("no assignment to serve: grader serve grades the kit's assignments (see docs/authoring.md)")
    # The layers are the machine's (root, namespaces, seccomp), so one assignment's throwaway worker tells.
    missing = missing_layers_here(served[0])
    if missing:
        raise GraderError(f"sandbox layers {', '.join(missing)} are not available on this machine; grader serve "
                          "grades students' uploads only with all of them: run it as root on Linux")


def _bind(host: str, port: int) -> socket.socket:
    """Listen before anything starts, so a taken port is one line, and port 0 gets a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as exc:
        listening.close()
        raise GraderError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
    listening.listen(2048)
    return listening


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
