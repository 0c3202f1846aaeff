"""Trains the reference model server's classifiers reproducibly (see build.py and docs/model-server.md).

BLAS and OpenMP run on ONE thread: set here, before anything imports numpy (whose BLAS reads these variables when
it loads), because a multi-threaded BLAS may sum in a different order and change the last bits of the weights.
build.py also wraps the fit in threadpoolctl.threadpool_limits(1), for a numpy that was imported earlier.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"
