"""The client side of a hostile-server test, run in its own process.

``python client.py URL [SQL]`` opens an engine on URL (a pool of one) and, if SQL is
given, runs it. It prints one JSON line: ``{"ok": ..., "error": class name,
"message": ..., "elapsed": seconds from the start to the result, "stats": the
engine's pool counters after an error}`` and exits 0 as long
as the Python process itself survived whatever the server sent.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import ormkit


async def main(url: str, sql: str | None) -> dict[str, object]:
    started = time.perf_counter()
    engine = None
    try:
        engine = await ormkit.create_engine(url, max_connections=1)
        if sql is not None:
            await engine.execute(sql)
        return {"ok": True, "elapsed": time.perf_counter() - started}
    except ormkit.Error as exc:
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.05)  # let the pool settle what it does with the connection
        return {
            "ok": False,
            "error": type(exc).__name__,
            "message": str(exc),
            "elapsed": elapsed,
            "stats": engine.stats() if engine is not None else None,
        }
    finally:
        if engine is not None:
            await engine.close()


if __name__ == "__main__":
    outcome = asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
    print(json.dumps(outcome))
