"""broker.core.aiosync: a batch of fdatasyncs run by the kernel, completion on an eventfd."""

import os
import select
import sys

import pytest

from broker.core.aiosync import FdSync

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux AIO")


@pytest.fixture
def aio():
    fs = FdSync.open(4)
    if fs is None:
        pytest.skip("io_setup refused here")
    yield fs
    fs.close()


def _wait(fs: FdSync) -> None:
    poller = select.poll()
    poller.register(fs.efd, select.POLLIN)
    for _ in range(1000):
        poller.poll(5000)
        if fs.reap():
            return
    raise AssertionError("the syncs never completed")


def test_a_batch_of_fdatasyncs_completes_and_the_next_can_start(tmp_path, aio):
    fds = [os.open(tmp_path / f"f{i}", os.O_RDWR | os.O_CREAT) for i in range(3)]
    try:
        for round_ in range(3):
            for fd in fds:
                os.pwrite(fd, b"%d" % round_ * 4096, 0)
            aio.submit(fds)
            assert aio.pending == 3
            with pytest.raises(ValueError):       # one batch at a time
                aio.submit(fds[:1])
            _wait(aio)
            assert aio.pending == 0 and aio.error == 0
    finally:
        for fd in fds:
            os.close(fd)


def test_a_batch_larger_than_the_depth_is_refused(tmp_path, aio):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        with pytest.raises(ValueError):
            aio.submit([fd] * 5)
        assert aio.pending == 0
    finally:
        os.close(fd)


def test_a_descriptor_that_cannot_be_synced_fails_the_submit(tmp_path, aio):
    r, w = os.pipe()              # a pipe has no fsync: io_submit refuses it (EINVAL)
    os.close(w)
    try:
        with pytest.raises(OSError):
            aio.submit([r])
        assert aio.pending == 0
    finally:
        os.close(r)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)   # the context still works
    try:
        aio.submit([fd])
        _wait(aio)
        assert aio.error == 0
    finally:
        os.close(fd)
