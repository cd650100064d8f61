"""A test-only handler: the MNIST handler, except that a request whose body is STALL never finishes.

It stands in for a request that hangs inside a worker (a stuck decoder, a deadlock), so a test can show
that TorchServe cuts it off at responseTimeout and replaces the worker. The archive built from it is
never shipped: tests/test_faults.py builds it in a temporary checkout.
"""

import logging
import time

from mnist_handler import MnistHandler

STALL = b"stall"
# Logged (it reaches TorchServe's log) when a worker starts stalling: tests wait for it, not for a time.
STALLING = "stalling: this request never finishes"


class StallingMnistHandler(MnistHandler):
    def handle(self, data, context):
        if any(request.get("body") == STALL for request in data):
            logging.getLogger(__name__).warning(STALLING)
            time.sleep(3600)
        return super().handle(data, context)
