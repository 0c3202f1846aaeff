"""FastAPI 0.165 checks on every request whether an OpenTelemetry tracer, meter or logger provider is configured
(FastAPI.__call__ -> NativeTelemetry.enabled(), fastapi/applications.py and fastapi/telemetry/_asgi.py). The server
turns that native telemetry off (its metrics are its own Prometheus ones): issue #25 section 4, bench/server/cuts.py
cut 1. Checked in a fresh interpreter, because configuring a global OpenTelemetry provider cannot be undone."""
import os
import subprocess
import sys

from conftest import SERVER_DIR, TEST_PREDICTION_ID_KEY

CHECK = """
from fastapi import FastAPI
from opentelemetry import trace
trace.set_tracer_provider(trace.NoOpTracerProvider())  # a configured provider: no longer the API's deferred proxy
assert FastAPI()._native_telemetry.enabled() is True, "FastAPI's default instruments once a provider is set"
from app import main
assert main.app._native_telemetry.enabled() is False, "the server's app stays uninstrumented"
assert all(main.app._telemetry[k] is False for k in ("tracing", "metrics", "logs")), main.app._telemetry
print("ok")
"""


def test_fastapi_native_telemetry_is_off_even_with_a_provider_configured(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "MODEL_", "OTEL_", "FASTAPI_OTEL"))}
    env.update({"PREDICTION_ID_KEY": TEST_PREDICTION_ID_KEY, "MODEL_SERVER_RUN_DIR": str(tmp_path)})
    proc = subprocess.run([sys.executable, "-c", CHECK], cwd=SERVER_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
