"""
NAME: compute_median.py
DESCRIPTION: Write the median of a list of numbers to ctx['metrics.median_v1'] (the mean of
  the two middle values for an even count). The numbers come from one numeric column of a CSV
  (params.src, as compute_numbers.py reads it) or, when src is not given, from the ctx list
  params.key (default numbers.validated_v1).
USAGE:
  python3 scriptlets/python/steps/compute_median.py --params '{"src":"Data/example_numbers.csv"}'
READS: numbers.validated_v1?
OUTPUTS: metrics.median_v1
PARAMETERS:
  - src: str, optional: CSV path relative to the project root
  - column: str, optional (default "value"): header name of the numeric column (with src)
  - key: str, optional (default "numbers.validated_v1"): ctx list of numbers, read when src is absent
RETURNS:
  {"status":"ok","outputs":["metrics.median_v1"],"metrics":{"count":5,"median":3}}
  {"status":"error","reason":"...","exit_code":1|2|3,"step":"compute_median"}  (exit code 2: the ctx
  list is missing, the step that writes it did not run; 3: bad params, an unreadable CSV or a
  list holding something other than numbers)
LIMITATIONS:
  - At least one number is required; NaN and infinities count as non-numbers.
  - The median is a float (JSON number) for CSV input, as compute_numbers.py's stats are.
EXAMPLES:
  python3 scriptlets/python/steps/compute_median.py --params '{"src":"Data/example_numbers.csv","column":"value"}'
"""
import argparse
import json
import math
import os
import sys

if __package__ in (None, ""):  # run as a file: make `scriptlets.python...` importable from the project root
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from scriptlets.python.core.base import EXIT_DEPENDENCY, EXIT_INVALID, BaseScriptlet, ScriptletError
from scriptlets.python.core.logging_util import get_logger
from scriptlets.python.core.resource import track_resources
from scriptlets.python.steps.compute_numbers import ComputeNumbers

logger = get_logger(__name__)


class ComputeMedian(BaseScriptlet):
    def validate(self, ctx, params):
        if not isinstance(params, dict):
            raise ScriptletError("params must be dict", EXIT_INVALID)
        for name in ("src", "column", "key"):
            if name in params and (not isinstance(params[name], str) or not params[name]):
                raise ScriptletError("params.%s must be a non-empty str" % name, EXIT_INVALID)
        if "src" in params:
            if not os.path.isfile(params["src"]):
                raise ScriptletError("CSV not found: %s (paths are relative to the project root)" % params["src"], EXIT_INVALID)
        else:
            self._from_ctx(ctx, params.get("key", "numbers.validated_v1"))

    @track_resources
    def run(self, ctx, params):
        try:
            self.validate(ctx, params)
            if "src" in params:
                values = ComputeNumbers._read_column(params["src"], params.get("column", "value"))
            else:
                values = self._from_ctx(ctx, params.get("key", "numbers.validated_v1"))
            ordered = sorted(values)
            middle = len(ordered) // 2
            median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
            ctx.set("metrics.median_v1", median, who="compute_median")
            logger.info("median of %d numbers: %s", len(ordered), median)
            print(json.dumps({"status": "ok", "outputs": ["metrics.median_v1"], "metrics": {"count": len(ordered), "median": median}}))
            return 0
        except Exception as e:
            code = getattr(e, "exit_code", 1)
            print(json.dumps({"status": "error", "reason": str(e), "exit_code": code, "step": "compute_median"}))
            return code

    @staticmethod
    def _from_ctx(ctx, key):
        values = ctx.get(key)
        if values is None:
            raise ScriptletError("ctx has no %s (run the step that writes it first)" % key, EXIT_DEPENDENCY)
        numbers = isinstance(values, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
        )
        if not numbers or not values:
            raise ScriptletError("ctx %s must be a non-empty list of numbers" % key, EXIT_INVALID)
        return values


if __name__ == "__main__":
    from scriptlets.python.core.context import Context

    parser = argparse.ArgumentParser()
    parser.add_argument("--params", required=True, help="JSON string of parameters")
    args = parser.parse_args()
    params = json.loads(args.params)
    ctx = Context()
    sys.exit(ComputeMedian().run(ctx, params))
