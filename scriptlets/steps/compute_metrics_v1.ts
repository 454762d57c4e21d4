/**
 * NAME:    compute_metrics_v1
 * DESC:    Summary statistics of the validated numbers. Frozen at v1: a changed or
 *          extended summary goes into a new scriptlet and key (see compute_metrics_v2).
 * PARAMS:  (none)
 * INPUTS:  numbers.validated_v1
 * OUTPUTS: metrics.summary_v1 ({count, mean, min, max}),
 *          metrics.columns_v1 (the summary's field names, in display order)
 */
import { defineScriptlet } from 'vitest-recipes/scriptlet'
import { requireNonEmptyNumbers } from '../lib/numbers.ts'
import { summaryV1 } from '../lib/stats.ts'

export default defineScriptlet({
  name: 'compute_metrics_v1',
  outputs: ['metrics.summary_v1', 'metrics.columns_v1'],
  reads: ['numbers.validated_v1'],
  run(ctx, _params, { step }) {
    const summary = summaryV1(requireNonEmptyNumbers(ctx, 'numbers.validated_v1'))
    ctx.set('metrics.summary_v1', summary, { who: step })
    ctx.set('metrics.columns_v1', ['count', 'mean', 'min', 'max'], { who: step })
    return { metrics: { count: summary.count, mean: summary.mean } }
  },
})
