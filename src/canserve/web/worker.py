"""Entry point of a compute worker: ``python -m canserve.web.worker FD MEMORY_BYTES`` (started by
:class:`canserve.web.pool.WorkPool`; FD is its end of the socket pair, 0 bytes for no cap)."""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from canserve.web.pool import worker_main


def main(argv: list[str]) -> None:
    fd, memory_bytes = int(argv[1]), int(argv[2])
    worker_main(Connection(fd), memory_bytes or None)


if __name__ == "__main__":
    main(sys.argv)
