"""`python -m app`: gunicorn (this process: the master, PID 1 in the container) with WEB_CONCURRENCY uvicorn
workers (default settings.DEFAULT_WORKERS, chosen from the load benchmark) on $HOST:$PORT (0.0.0.0:8080).

Before any worker starts, this sets up the per-pod run directory (MODEL_SERVER_RUN_DIR, default
/tmp/model-server: /tmp is the pod's writable emptyDir, the root filesystem is read-only):
  metrics/  PROMETHEUS_MULTIPROC_DIR, the workers' metric files (wiped at start: a restarted container starts at 0)
  state/    MODEL_SERVER_STATE_DIR, one marker per worker that has loaded the model (pod-level readiness)
When a worker exits, the master marks it dead for the Prometheus client and forgets its marker.
"""
import logging
import os
import shutil
import sys

from . import preflight, settings


def _prepare_dir(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    return path


def child_exit(_server, worker) -> None:
    from prometheus_client import multiprocess

    from . import lifecycle

    multiprocess.mark_process_dead(worker.pid)
    lifecycle.forget_worker(worker.pid, os.environ.get("MODEL_SERVER_STATE_DIR"))


def options() -> dict:
    workers = settings.workers()
    graceful = settings.graceful_seconds()
    return {
        "bind": f"{os.environ.get('HOST', '0.0.0.0')}:{int(os.environ.get('PORT', '8080'))}",
        "workers": workers,
        "worker_class": "app.worker.ModelServerWorker",
        "graceful_timeout": max(1, int(round(graceful))),
        # Heartbeat: a worker whose event loop is stuck this long is replaced.
        "timeout": int(os.environ.get("WORKER_TIMEOUT_SECONDS", "60")),
        "keepalive": int(os.environ.get("KEEPALIVE_SECONDS", "75")),  # above typical LB idle timeouts (60 s)
        "backlog": int(os.environ.get("BACKLOG", "2048")),
        "loglevel": os.environ.get("LOG_LEVEL", "info"),
        "accesslog": os.environ.get("ACCESS_LOG") or None,
        "errorlog": "-",
        "child_exit": child_exit,
        "proc_name": "model-server",
        # gunicorn 27's control socket would be created under $HOME (read-only root filesystem in the pod).
        "control_socket_disable": True,
    }


def main() -> None:
    # A GPU model without a usable CUDA provider, a malformed hash or key: exit 1 with the reasons, start nothing.
    preflight.run()
    run_dir = os.environ.get("MODEL_SERVER_RUN_DIR", "/tmp/model-server")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _prepare_dir(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(run_dir, "metrics"))
    os.environ["MODEL_SERVER_STATE_DIR"] = _prepare_dir(os.environ.get("MODEL_SERVER_STATE_DIR") or os.path.join(run_dir, "state"))
    os.environ["MODEL_SERVER_WORKERS"] = str(settings.workers())

    from gunicorn.app.base import BaseApplication

    opts = options()

    class Server(BaseApplication):
        def load_config(self) -> None:
            known = self.cfg.settings
            for key, value in opts.items():
                if key in known and value is not None:
                    self.cfg.set(key, value)

        def load(self):
            from .main import app

            return app

    logging.getLogger("model_server").info("starting %d worker(s) on %s", opts["workers"], opts["bind"])
    Server().run()
    sys.exit(0)


if __name__ == "__main__":
    main()
