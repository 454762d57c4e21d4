/**
 * NAME:    compute_std
 * DESC:    Population standard deviation (divides by n, not n - 1) of the validated
 *          numbers; one of the independent metric steps aggregate_metrics fans in.
 * PARAMS:  (none)
 * INPUTS:  numbers.validated_v1
 * OUTPUTS: metrics.std_v1 (number)
 * STYLE:   class form: recipes name it with `class: ComputeStd`.
 */
import { BaseScriptlet, type JsonObject, type ScriptletContext, type ScriptletTools } from 'vitest-recipes/scriptlet'
import { requireNonEmptyNumbers } from '../lib/numbers.ts'
import { std } from '../lib/stats.ts'

export class ComputeStd extends BaseScriptlet<JsonObject> {
  override readonly outputs = ['metrics.std_v1']
  override readonly reads = ['numbers.validated_v1']

  override validate(ctx: ScriptletContext): void {
    requireNonEmptyNumbers(ctx, 'numbers.validated_v1')
  }

  run(ctx: ScriptletContext, _params: JsonObject, { step }: ScriptletTools) {
    const value = std(requireNonEmptyNumbers(ctx, 'numbers.validated_v1'))
    ctx.set('metrics.std_v1', value, { who: step })
    return { metrics: { std: value } }
  }
}
