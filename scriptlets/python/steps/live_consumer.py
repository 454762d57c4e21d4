"""
NAME: live_consumer.py
DESCRIPTION: A live consumer, the older framework's dashboard thread as a step: while a
  producer step runs beside it, it reads the running recipe's ctx through its ctx server
  (vitest_recipes.live), as a dashboard or a script on another host would, until the list
  at params.key holds params.count samples; then writes what it saw to
  ctx['live.consumer_v1'] as {seen, mean, min, max, polls, first_seen}.
USAGE:
  (a python module step of a running recipe: it needs the run's ctx server)
PARAMETERS:
  - key: str, optional (default "live.samples_v1"): the ctx list to watch
  - count: int, optional (default 10): how many samples to wait for
  - timeout_sec: number, optional (default 30): how long to wait for them
  - interval_sec: number, optional (default 0.05): time between two reads
RETURNS:
  {"status":"ok","outputs":["live.consumer_v1"],"metrics":{"polls":12,"first_seen":0}}
  raises ScriptletError (exit code 1) when the samples do not all arrive in time, 2 when
  there is no ctx server to read.
LIMITATIONS:
  - Reads through HTTP on loopback: each poll is a request (a few ms).
  - first_seen (how many samples were there at the first read) shows whether it really ran
    beside the producer: 0 when it started first.
EXAMPLES:
  module: scriptlets.python.steps.live_consumer, class: LiveConsumer, args: {count: 10}
"""
import time
from typing import Any, Dict

from scriptlets.python.core.base import EXIT_DEPENDENCY, EXIT_INVALID, BaseScriptlet, ScriptletError

try:
    from vitest_recipes import live
except ImportError:  # run outside the Python host: the package's python/ folder is not on the path
    live = None


class LiveConsumer(BaseScriptlet):
    def validate(self, ctx: Any, params: Dict[str, Any]) -> None:
        count = params.get("count", 10)
        if not isinstance(count, int) or count < 1:
            raise ScriptletError("params.count must be a whole number above 0", EXIT_INVALID)
        if live is None:
            raise ScriptletError("vitest_recipes.live is not importable: run this as a python module step", EXIT_DEPENDENCY)

    def run(self, ctx: Any, params: Dict[str, Any]) -> Dict[str, Any]:
        self.validate(ctx, params)
        key = params.get("key", "live.samples_v1")
        count = params.get("count", 10)
        deadline = time.monotonic() + float(params.get("timeout_sec", 30))
        interval = float(params.get("interval_sec", 0.05))
        polls = 0
        first_seen = None
        try:
            while True:
                samples = live.get(key, default=[]) or []
                polls += 1
                if first_seen is None:
                    first_seen = len(samples)
                if len(samples) >= count:
                    break
                if time.monotonic() > deadline:
                    raise ScriptletError("only %d of %d samples arrived in %s within the timeout" % (len(samples), count, key))
                time.sleep(interval)
        except live.LiveCtxError as error:
            raise ScriptletError("cannot read the running ctx: %s" % error, EXIT_DEPENDENCY) from None
        seen = samples[:count]
        summary = {
            "seen": len(seen),
            "mean": sum(seen) / len(seen),
            "min": min(seen),
            "max": max(seen),
            "polls": polls,
            "first_seen": first_seen,
        }
        ctx.set("live.consumer_v1", summary, who="live_consumer")
        return {"status": "ok", "outputs": ["live.consumer_v1"], "metrics": {"polls": polls, "first_seen": first_seen}}
