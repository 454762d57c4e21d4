"""
NAME: resource.py
DESCRIPTION: @track_resources: logs a run()'s wall time, CPU time and peak RSS to stderr and
  returns what run() returned, unchanged.
LIMITATIONS:
  - Peak RSS comes from the resource module (Unix only; omitted elsewhere) and is the
    process's peak so far, not this call's: under vitest-recipes one warm interpreter runs
    every python step of a recipe. The runner measures each step's CPU time and memory itself.
"""
import functools
import sys
import time
from typing import Any, Callable, TypeVar

from scriptlets.python.core.logging_util import get_logger

F = TypeVar("F", bound=Callable[..., Any])
_logger = get_logger("scriptlets.resource")


def _peak_rss_kib() -> Any:
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS reports bytes, Linux KiB


def track_resources(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            _logger.info(
                "%s: %.1f ms wall, %.1f ms cpu, peak rss %s KiB",
                func.__qualname__,
                (time.perf_counter() - wall) * 1000,
                (time.process_time() - cpu) * 1000,
                _peak_rss_kib(),
            )

    return wrapper  # type: ignore[return-value]
