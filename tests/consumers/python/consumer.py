"""A consumer project of the Python library: one create-add-get-delete against a live server.

Usage: python consumer.py HOST:PORT. It depends on `median-client` as an ordinary package
(pip-installed into this folder's own virtual environment by `run`), not on the repository.
"""

from __future__ import annotations

import sys

import grpc
from median_client import MedianClient, MedianError


def main(target: str) -> int:
    with MedianClient(target) as client:
        session_id = client.create_session()  # the library picks the id
        client.add_numbers(session_id, [3.0, 1.0, 2.0, 10.0])
        median = client.get_median(session_id)
        print(f"count={median.count} median={median.median!r}")
        client.delete_session(session_id)
        try:
            client.get_median(session_id)
        except MedianError as error:
            if error.code != grpc.StatusCode.NOT_FOUND:
                raise
            print(f"deleted: {error.code.name}")
            return 0
    print("error: the deleted session still answered", file=sys.stderr)
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: consumer.py HOST:PORT", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(main(sys.argv[1]))
    except MedianError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
