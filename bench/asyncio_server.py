"""`python -m doubletick.server` on the plain asyncio loop instead of uvloop: the server's CLI
picks uvloop whenever it can import it, and `--loop asyncio` of the benchmarks needs the
other. Arguments are the server's own.

    python -m bench.asyncio_server --host 127.0.0.1 --port 0
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    sys.modules["uvloop"] = None  # type: ignore[assignment]  # makes `import uvloop` fail
    from doubletick.server.__main__ import main

    sys.exit(main())
