"""
NAME: resource_audit.py
DESCRIPTION: Sum up what the steps of this run cost: reads the per-step figures the runner
  keeps in ctx['_runner.step_metrics_v1'] (recipe option `step_metrics: true`; the older
  runner_v2 wrote the same key) and writes ctx['resource.audit_v1'] as
  {steps, by_status, total_duration_ms, total_cpu_ms, peak_rss_mb, peak_rss_step,
  rss_measured_steps, slowest: [{step, duration_ms, cpu_ms}]}.
USAGE:
  python3 scriptlets/python/steps/resource_audit.py --params '{"top":3}'
  (standalone it audits an empty ctx: give it one with `npx recipes step ... --ctx`)
READS: _runner.step_metrics_v1
OUTPUTS: resource.audit_v1
PARAMETERS:
  - top: int, optional (default 3): how many of the slowest steps to list
RETURNS:
  {"status":"ok","outputs":["resource.audit_v1"],"metrics":{"steps":11,"total_duration_ms":84.2,"total_cpu_ms":95.1}}
  raises ScriptletError: exit code 2 when ctx has no _runner.step_metrics_v1 (the recipe does not
  say `step_metrics: true`), 3 for bad params or figures that are not numbers.
LIMITATIONS:
  - Audits the steps that ended before it: give it depends_on on every step to count (the
    runner writes a step's figures when the step ends; steps that did not run have none).
  - peak_rss_mb is the largest figure of one step, not of the run: steps in worker threads
    have none (not measured), and the steps of a run share processes.
  - Totals are rounded to 0.001 ms / MiB; the per-step figures stay in the runner's key.
EXAMPLES:
  module: scriptlets.python.steps.resource_audit, class: ResourceAudit, args: {top: 3}
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, List

if __package__ in (None, ""):  # run as a file: make `scriptlets.python...` importable from the project root
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from scriptlets.python.core.base import EXIT_DEPENDENCY, EXIT_INVALID, BaseScriptlet, ScriptletError
from scriptlets.python.core.logging_util import get_logger
from scriptlets.python.core.resource import track_resources

logger = get_logger(__name__)

METRICS_KEY = "_runner.step_metrics_v1"


def _number(step: str, figures: Dict[str, Any], name: str) -> float:
    value = figures.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScriptletError("%s[%s].%s is not a number: %r" % (METRICS_KEY, step, name, value), EXIT_INVALID)
    return float(value)


class ResourceAudit(BaseScriptlet):
    def validate(self, ctx: Any, params: Dict[str, Any]) -> None:
        if not isinstance(params, dict):
            raise ScriptletError("params must be dict", EXIT_INVALID)
        top = params.get("top", 3)
        if isinstance(top, bool) or not isinstance(top, int) or top < 0:
            raise ScriptletError("params.top must be a whole number >= 0", EXIT_INVALID)
        metrics = ctx.get(METRICS_KEY)
        if metrics is None:
            raise ScriptletError(
                "ctx has no %s: set `step_metrics: true` at the top of the recipe so the runner records each step's figures" % METRICS_KEY,
                EXIT_DEPENDENCY,
            )
        if not isinstance(metrics, dict):
            raise ScriptletError("%s is not an object of steps" % METRICS_KEY, EXIT_INVALID)

    @track_resources
    def run(self, ctx: Any, params: Dict[str, Any]) -> Dict[str, Any]:
        self.validate(ctx, params)
        top = params.get("top", 3)
        metrics = ctx.get(METRICS_KEY)
        by_status: Dict[str, int] = {}
        rows: List[Dict[str, Any]] = []
        peak_rss, peak_rss_step, rss_measured = None, None, 0
        for step, figures in metrics.items():
            if not isinstance(figures, dict):
                raise ScriptletError("%s[%s] is not an object" % (METRICS_KEY, step), EXIT_INVALID)
            status = str(figures.get("status", "unknown"))
            by_status[status] = by_status.get(status, 0) + 1
            rows.append({"step": step, "duration_ms": _number(step, figures, "duration_ms"), "cpu_ms": _number(step, figures, "cpu_ms")})
            if "peak_rss_mb" in figures:
                rss = _number(step, figures, "peak_rss_mb")
                rss_measured += 1
                if peak_rss is None or rss > peak_rss:
                    peak_rss, peak_rss_step = rss, step
        slowest = sorted(rows, key=lambda row: row["duration_ms"], reverse=True)[:top]
        audit = {
            "steps": len(rows),
            "by_status": by_status,
            "total_duration_ms": round(sum(row["duration_ms"] for row in rows), 3),
            "total_cpu_ms": round(sum(row["cpu_ms"] for row in rows), 3),
            "peak_rss_mb": None if peak_rss is None else round(peak_rss, 3),
            "peak_rss_step": peak_rss_step,
            "rss_measured_steps": rss_measured,
            "slowest": [{**row, "duration_ms": round(row["duration_ms"], 3), "cpu_ms": round(row["cpu_ms"], 3)} for row in slowest],
        }
        ctx.set("resource.audit_v1", audit, who="resource_audit")
        logger.info("audited %d steps: %.1f ms wall, %.1f ms cpu", audit["steps"], audit["total_duration_ms"], audit["total_cpu_ms"])
        return {
            "status": "ok",
            "outputs": ["resource.audit_v1"],
            "metrics": {"steps": audit["steps"], "total_duration_ms": audit["total_duration_ms"], "total_cpu_ms": audit["total_cpu_ms"]},
        }


if __name__ == "__main__":
    from scriptlets.python.core.context import Context

    parser = argparse.ArgumentParser()
    parser.add_argument("--params", required=True, help="JSON string of parameters")
    args = parser.parse_args()
    params = json.loads(args.params)
    try:
        envelope = ResourceAudit().run(Context(), params)
        print(json.dumps(envelope))
        sys.exit(0)
    except Exception as e:
        code = getattr(e, "exit_code", 1)
        print(json.dumps({"status": "error", "reason": str(e), "exit_code": code, "step": "resource_audit"}))
        sys.exit(code)
