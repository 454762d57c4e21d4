/**
 * NAME:    compute_metrics_v2
 * DESC:    Additive successor of compute_metrics_v1 (which stays untouched): writes the
 *          v1 summary unchanged for existing consumers, and a v2 summary that adds
 *          median, population std and range.
 * PARAMS:  (none)
 * INPUTS:  numbers.validated_v1
 * OUTPUTS: metrics.summary_v1 ({count, mean, min, max}),
 *          metrics.summary_v2 (v1 fields + {median, std, range})
 * STYLE:   class form: recipes name it with `class: ComputeMetricsV2`.
 */
import { BaseScriptlet, type JsonObject, type ScriptletContext, type ScriptletTools } from 'vitest-recipes/scriptlet'
import { requireNonEmptyNumbers } from '../lib/numbers.ts'
import { summaryV1, summaryV2 } from '../lib/stats.ts'

export class ComputeMetricsV2 extends BaseScriptlet<JsonObject> {
  override readonly outputs = ['metrics.summary_v1', 'metrics.summary_v2']
  override readonly reads = ['numbers.validated_v1']

  override validate(ctx: ScriptletContext): void {
    requireNonEmptyNumbers(ctx, 'numbers.validated_v1')
  }

  run(ctx: ScriptletContext, _params: JsonObject, { step }: ScriptletTools) {
    const values = requireNonEmptyNumbers(ctx, 'numbers.validated_v1')
    const v2 = summaryV2(values)
    ctx.set('metrics.summary_v1', summaryV1(values), { who: step })
    ctx.set('metrics.summary_v2', v2, { who: step })
    return { metrics: { count: v2.count, mean: v2.mean, median: v2.median, std: v2.std } }
  }
}
