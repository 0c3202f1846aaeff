"""The gunicorn worker class: uvicorn's worker with a graceful, observable shutdown.

On SIGTERM (gunicorn's master forwards it to every worker) the worker
  1. flips readiness to 503 at once (lifecycle.begin_draining),
  2. keeps serving for SHUTDOWN_DRAIN_SECONDS, so a readiness probe or load balancer that still routes here sees
     the 503 instead of a refused connection,
  3. then stops accepting and lets in-flight requests finish, for at most the rest of GRACEFUL_SHUTDOWN_SECONDS,
  4. exits; the master exits 0 once every worker is gone.
A second SIGTERM/SIGINT skips the drain; a third forces the exit (uvicorn's behaviour).
"""
import asyncio
import signal
import sys
from typing import Optional

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from . import lifecycle, settings


class DrainingServer(Server):
    def __init__(self, *args, drain_seconds: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._drain_seconds = drain_seconds
        self._draining = False
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    async def serve(self, sockets=None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets=sockets)

    def handle_exit(self, sig, frame) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT) and not self._draining and self._drain_seconds > 0 and self._loop:
            self._draining = True
            lifecycle.begin_draining()
            self._loop.call_soon_threadsafe(self._loop.call_later, self._drain_seconds, super().handle_exit, sig, frame)
            return
        lifecycle.begin_draining()
        super().handle_exit(sig, frame)


class ModelServerWorker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "auto", "http": "auto", "lifespan": "on"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        drain, inflight = settings.shutdown_budget()
        self.config.timeout_graceful_shutdown = inflight
        self._drain = drain

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config, drain_seconds=self._drain)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
