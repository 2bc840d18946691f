"""The benchmark harness behind `make bench` and `make bench-quick`.

Every figure is measured in the same run as the baseline it is compared with, because this
machine is shared and its absolute speed drifts. `bench.run` is the entry point.
"""

import os

# gRPC's core logs connection events (a GOAWAY when a bench server stops) at INFO; the bench's
# output is its table. Set before grpc is first imported; child processes inherit it.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
