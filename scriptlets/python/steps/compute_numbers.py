"""
NAME: compute_numbers.py
DESCRIPTION: Read one numeric column of a CSV and write its stats to ctx['numbers.stats_v1']
  as {count, mean, min, max}. The CSV path comes from params.src or, when src is not given,
  from the ctx key params.src_key (default numbers.clean_path_v1, which a sanitize step saves).
USAGE:
  python3 scriptlets/python/steps/compute_numbers.py --params '{"src":"Data/sanitized_numbers.csv"}'
PARAMETERS:
  - src: str, optional: CSV path relative to the project root
  - src_key: str, optional (default "numbers.clean_path_v1"): ctx key holding the path when src is absent
  - column: str, optional (default "value"): header name of the numeric column
READS: {src_key}? (only when src is not given)
OUTPUTS: numbers.stats_v1
RETURNS:
  {"status":"ok","outputs":["numbers.stats_v1"],"metrics":{"count":5}}
  {"status":"error","reason":"...","exit_code":1|2|3,"step":"compute_numbers"}  (exit code 2: no path in
  ctx, the step it depends on did not run; 3: bad params or unreadable CSV)
LIMITATIONS:
  - Input must be a CSV with a header row; empty cells in the column are skipped, any other
    non-number fails the step (NaN and infinities count as non-numbers).
  - Stats are floats (JSON numbers); at least one number is required.
EXAMPLES:
  python3 scriptlets/python/steps/compute_numbers.py --params '{"src":"Data/sanitized_numbers.csv","column":"value"}'
"""
import argparse
import csv
import json
import math
import os
import sys

if __package__ in (None, ""):  # run as a file: make `scriptlets.python...` importable from the project root
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from scriptlets.python.core.base import EXIT_DEPENDENCY, EXIT_INVALID, BaseScriptlet, ScriptletError
from scriptlets.python.core.logging_util import get_logger
from scriptlets.python.core.resource import track_resources

logger = get_logger(__name__)


class ComputeNumbers(BaseScriptlet):
    def validate(self, ctx, params):
        if not isinstance(params, dict):
            raise ScriptletError("params must be dict", EXIT_INVALID)
        for name in ("src", "src_key", "column"):
            if name in params and (not isinstance(params[name], str) or not params[name]):
                raise ScriptletError("params.%s must be a non-empty str" % name, EXIT_INVALID)
        src = self._source(ctx, params)
        if not os.path.isfile(src):
            raise ScriptletError("CSV not found: %s (paths are relative to the project root)" % src, EXIT_INVALID)

    @track_resources
    def run(self, ctx, params):
        try:
            self.validate(ctx, params)
            src = self._source(ctx, params)
            column = params.get("column", "value")
            values = self._read_column(src, column)
            stats = {"count": len(values), "mean": sum(values) / len(values), "min": min(values), "max": max(values)}
            json.dumps(stats, allow_nan=False)
            ctx.set("numbers.stats_v1", stats, who="compute_numbers")
            logger.info("%s[%s]: %s", src, column, stats)
            result = {"status": "ok", "outputs": ["numbers.stats_v1"], "metrics": {"count": len(values)}}
            print(json.dumps(result))
            return 0
        except Exception as e:
            code = getattr(e, "exit_code", 1)
            err = {"status": "error", "reason": str(e), "exit_code": code, "step": "compute_numbers"}
            print(json.dumps(err))
            return code

    @staticmethod
    def _source(ctx, params):
        if "src" in params:
            return params["src"]
        key = params.get("src_key", "numbers.clean_path_v1")
        src = ctx.get(key)
        if not isinstance(src, str) or not src:
            raise ScriptletError("params.src not given and ctx %s holds no path (run the step that saves it first)" % key, EXIT_DEPENDENCY)
        return src

    @staticmethod
    def _read_column(src, column):
        with open(src, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if column not in (reader.fieldnames or []):
                raise ScriptletError("no column %r in %s (columns: %s)" % (column, src, ", ".join(reader.fieldnames or [])), EXIT_INVALID)
            values = []
            for row in reader:
                cell = (row.get(column) or "").strip()
                if not cell:
                    continue
                try:
                    value = float(cell)
                except ValueError:
                    value = math.nan
                if not math.isfinite(value):
                    raise ScriptletError("%s line %d: %r in column %s is not a number" % (src, reader.line_num, cell, column), EXIT_INVALID)
                values.append(value)
        if not values:
            raise ScriptletError("no numbers in column %s of %s" % (column, src), EXIT_INVALID)
        return values


if __name__ == "__main__":
    from scriptlets.python.core.context import Context

    parser = argparse.ArgumentParser()
    parser.add_argument("--params", required=True, help="JSON string of parameters")
    args = parser.parse_args()
    params = json.loads(args.params)
    ctx = Context()
    sys.exit(ComputeNumbers().run(ctx, params))
