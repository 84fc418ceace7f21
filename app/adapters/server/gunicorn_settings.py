"""gunicorn settings and hooks, shared by ``gunicorn.conf.py`` and the ``marketflow`` script.

The pipeline starts in ``post_worker_init``: by then the gevent worker has
monkey-patched the process and loaded the app, so ``create_app`` itself
stays free of side effects. ``worker_int`` (SIGINT/SIGQUIT) and
``worker_exit`` (every exit, SIGTERM included) drain and flush it.
"""

import gc
import logging
import resource
import sys

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from app.adapters.server.logs import logging_dict
from app.adapters.server.runtime import runtime
from app.config.loader import ConfigError, load_config
from app.config.masking import secret_values

# Files a worker needs besides its client connections: stores, feeds, logs, the spool.
RESERVED_FILES = 256
# The cyclic collector's generation thresholds (CPython's are 700, 10, 10). A worker holds its whole window of
# ticks, hundreds of thousands of objects that live a minute, and makes tens of thousands a second: at the defaults
# it scans them all over and over (a fifth of a busy worker's time, and pauses of hundreds of ms that every answer
# and every tick waits out). Almost nothing here makes cycles, so collecting 70 times less often costs little memory.
GC_THRESHOLDS = (50_000, 20, 100)


def _allow_open_files(needed: int) -> None:
    """Raise the soft open-file limit (inherited by the worker) so every allowed connection can be accepted.

    Many systems start processes at 1,024: without this a full pool would fail in ``accept``
    instead of at startup.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise ConfigError(
                f"http.max_connections: needs {needed} open files, but this process may open at most {hard}"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


try:
    _config = load_config()
    _allow_open_files(_config.http.max_connections + RESERVED_FILES)
except ConfigError as exc:
    print(f"marketflow: invalid configuration: {exc}", file=sys.stderr)
    raise SystemExit(1) from None

bind = [f"{_config.http.host}:{_config.http.port}"]
workers = _config.http.workers
worker_class = "app.adapters.server.worker.MarketflowWorker"
graceful_timeout = _config.http.graceful_timeout
worker_connections = _config.http.max_connections
timeout = 30
proc_name = "marketflow"
logconfig_dict = logging_dict(_config.logging.level, _config.logging.format, secret_values(_config))
# Python's warnings as log lines (logger ``py.warnings``), in the configured format like every other line;
# the workers inherit it from the master.
logging.captureWarnings(True)
accesslog = None


def _stop(worker: Worker) -> None:
    services = runtime(worker.wsgi) if getattr(worker, "wsgi", None) else None
    if services is not None:
        services.stop()


def post_worker_init(worker: Worker) -> None:
    from psycogreen.gevent import patch_psycopg  # after the worker patched gevent

    patch_psycopg()
    runtime(worker.wsgi).start()
    gc.freeze()  # what start-up built lives as long as the worker: never scanned again
    gc.set_threshold(*GC_THRESHOLDS)


def worker_int(worker: Worker) -> None:
    _stop(worker)


def worker_exit(server: Arbiter, worker: Worker) -> None:
    _stop(worker)
