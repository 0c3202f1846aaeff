"""`python -m app`: one uvicorn worker on $PORT (default 8080). Scale with replicas, not workers: the
Prometheus client keeps its metrics in this one process."""
import os

import uvicorn


def main() -> None:
    uvicorn.run(
        "app.main:app",
        host=os.environ.get("HOST", "0.0.0.0"),
        port=int(os.environ.get("PORT", "8080")),
        workers=1,
        log_level=os.environ.get("LOG_LEVEL", "info"),
        proxy_headers=True,
        timeout_graceful_shutdown=int(os.environ.get("GRACEFUL_SHUTDOWN_SECONDS", "20")),
    )


if __name__ == "__main__":
    main()
