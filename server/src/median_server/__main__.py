"""The `median-server` command: read the settings, set up logging, serve until a signal."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from median_server import logs
from median_server.auth import TokenFileError
from median_server.config import parse_config
from median_server.server import BindError, serve
from median_server.storage import DataFolderError
from median_server.tls import TlsSetupError


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(sys.argv[1:] if argv is None else argv)
    logs.configure(config.log_level, config.log_format)
    try:
        return asyncio.run(serve(config))
    except (BindError, TokenFileError, TlsSetupError, DataFolderError) as error:
        logging.getLogger("median_server").error("%s", error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
