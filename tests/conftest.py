import os

# Keep tests deterministic and light on the 2-core CI machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")


import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: a second intra-op thread only adds waits (seconds per test on a busy
    2-core machine). Modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`;
    the thread count is restored for the modules that follow."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
