"""Work on a thread of its own, its result asked for later: what waits on another process (a
probe of the target, uv) or on the kernel (a stat walk) leaves the interpreter free meanwhile.

Standard library only, and only ``threading`` at call time: the no-op path of sync imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def ahead(work: Callable[..., T], *args: Any, name: str = "ahead") -> Callable[[], T]:
    """Start ``work(*args)`` on a daemon thread; the function returned waits for it and returns
    its result, or raises its error (any exception, raised where the result is asked for)."""
    import threading

    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work(*args))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if failed:
            raise failed[0]
        return done[0]

    return result
