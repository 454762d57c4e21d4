/**
 * NAME:    compute_mean
 * DESC:    Arithmetic mean of the validated numbers; one of the independent metric
 *          steps that aggregate_metrics fans in.
 * PARAMS:  (none)
 * INPUTS:  numbers.validated_v1
 * OUTPUTS: metrics.mean_v1 (number)
 * STYLE:   class form: recipes name it with `class: ComputeMean`.
 */
import { BaseScriptlet, type JsonObject, type ScriptletContext, type ScriptletTools } from 'vitest-recipes/scriptlet'
import { requireNonEmptyNumbers } from '../lib/numbers.ts'
import { mean } from '../lib/stats.ts'

export class ComputeMean extends BaseScriptlet<JsonObject> {
  override readonly outputs = ['metrics.mean_v1']
  override readonly reads = ['numbers.validated_v1']

  override validate(ctx: ScriptletContext): void {
    requireNonEmptyNumbers(ctx, 'numbers.validated_v1')
  }

  run(ctx: ScriptletContext, _params: JsonObject, { step }: ScriptletTools) {
    const value = mean(requireNonEmptyNumbers(ctx, 'numbers.validated_v1'))
    ctx.set('metrics.mean_v1', value, { who: step })
    return { metrics: { mean: value } }
  }
}
