/**
 * NAME:    compute_median
 * DESC:    Median of the validated numbers (the mean of the two middle values for an
 *          even count); one of the independent metric steps aggregate_metrics fans in.
 * PARAMS:  (none)
 * INPUTS:  numbers.validated_v1
 * OUTPUTS: metrics.median_v1 (number)
 * STYLE:   class form: recipes name it with `class: ComputeMedian`.
 */
import { BaseScriptlet, type JsonObject, type ScriptletContext, type ScriptletTools } from 'vitest-recipes/scriptlet'
import { requireNonEmptyNumbers } from '../lib/numbers.ts'
import { median } from '../lib/stats.ts'

export class ComputeMedian extends BaseScriptlet<JsonObject> {
  override readonly outputs = ['metrics.median_v1']
  override readonly reads = ['numbers.validated_v1']

  override validate(ctx: ScriptletContext): void {
    requireNonEmptyNumbers(ctx, 'numbers.validated_v1')
  }

  run(ctx: ScriptletContext, _params: JsonObject, { step }: ScriptletTools) {
    const value = median(requireNonEmptyNumbers(ctx, 'numbers.validated_v1'))
    ctx.set('metrics.median_v1', value, { who: step })
    return { metrics: { median: value } }
  }
}
