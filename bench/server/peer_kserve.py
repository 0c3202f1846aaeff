"""The peer of the server benchmark: the same ONNX model behind KServe's Python model server (`kserve` on PyPI).

    bench/server/.venv-peer/bin/python bench/server/peer_kserve.py --onnx M.onnx --name bench --port P --workers W
                                          [--intra-op-threads 1] [--log_config_file quiet.json]

A kserve.Model subclass running onnxruntime with the server's session options (intra_op_num_threads, inter_op 1),
served by kserve.ModelServer: FastAPI + uvicorn, the Open Inference Protocol v2 at POST /v2/models/{name}/infer,
its Prometheus metrics and timing middleware on as shipped. `--workers W` > 1 is KServe's own multi-process mode
(W spawned uvicorn processes sharing the socket, like gunicorn's workers). gRPC, per-request latency logging and
the access log are off (the model server under test logs no request either): run.py passes KServe's own
`--log_config_file` (read by kserve.model_server's module-level argument parser, also in the spawned workers) with
every kserve/uvicorn logger at WARNING. Our options avoid prefixes of KServe's (`--model` would abbreviate its
`--model_name`). It answers every request with the
same thing the model server answers: per row, the argmax class ("label", INT64) and its probability ("score",
FP32). Ready when GET /v2/health/ready answers 200.
"""
import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.utils.utils import generate_uuid

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402


class OnnxClassifier(Model):
    def __init__(self, name: str, path: str, intra_op_threads: int) -> None:
        super().__init__(name)
        self.path, self.intra_op_threads = path, intra_op_threads
        self.session = None
        self.load()

    def load(self) -> bool:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, self.intra_op_threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(Path(self.path).read_bytes(), sess_options=opts, providers=["CPUExecutionProvider"])
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.sig = benchlib.signature(meta, [(i.name, i.shape) for i in self.session.get_inputs()], [o.name for o in self.session.get_outputs()])
        self.ready = True
        return self.ready

    # KServe's multi-process mode pickles the model into spawned workers: an InferenceSession cannot be pickled, so
    # each worker builds its own (as each gunicorn worker of the model server does).
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["session"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.load()

    def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        x = payload.inputs[0].as_numpy().astype(np.float32, copy=False)
        probs = self.session.run([self.sig["output"]], {self.sig["input"]: x})[0]
        labels = probs.argmax(axis=1)
        scores = probs[np.arange(len(labels)), labels]
        outputs = [
            InferOutput(name="label", shape=[len(labels)], datatype="INT64", data=labels.tolist()),
            InferOutput(name="score", shape=[len(labels)], datatype="FP32", data=scores.tolist()),
        ]
        return InferResponse(model_name=self.name, infer_outputs=outputs, response_id=payload.id or generate_uuid())  # as KServe's own runtimes do


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log_config_file", help="read by kserve itself (see above)")
    ap.add_argument("--onnx", required=True, help="the ONNX model file")
    ap.add_argument("--name", default="bench")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--intra-op-threads", type=int, default=1)
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    model = OnnxClassifier(args.name, args.onnx, args.intra_op_threads)
    ModelServer(
        http_port=args.port, grpc_port=0, workers=args.workers, enable_grpc=False, enable_latency_logging=False,
    ).start([model])


if __name__ == "__main__":
    main()
