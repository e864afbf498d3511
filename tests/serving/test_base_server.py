"""`base_server.limit_threads`: torch gets the threads asked for, numpy's BLAS pool one."""

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, torch
from threadpoolctl import threadpool_info
from aiprime.serving.base_server import limit_threads
blas = lambda: [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
before = blas()
limit_threads(2)
print(json.dumps({"before": before, "after": blas(), "torch": torch.get_num_threads()}))
"""


def test_a_server_process_gets_torch_threads_and_one_blas_thread():
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}  # a pool that could spin
    command = [sys.executable, "-c", PROBE]
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pools = json.loads(done.stdout.strip().splitlines()[-1])
    if max(pools["before"], default=1) < 2:
        pytest.skip("numpy's BLAS pool has one thread on this machine already: nothing to hold back")
    assert pools["after"] and set(pools["after"]) == {1}
    assert pools["torch"] == 2
