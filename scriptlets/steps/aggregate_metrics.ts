/**
 * NAME:    aggregate_metrics
 * DESC:    Fan-in: gathers the results of compute_mean, compute_median and compute_std
 *          into one object. Fails with exit 2 naming the first missing input.
 * PARAMS:  (none)
 * INPUTS:  metrics.mean_v1, metrics.median_v1, metrics.std_v1
 * OUTPUTS: metrics.aggregate_v1 ({mean, median, std})
 */
import { defineScriptlet, ScriptletError } from 'vitest-recipes/scriptlet'

const INPUTS = { mean: 'metrics.mean_v1', median: 'metrics.median_v1', std: 'metrics.std_v1' } as const

export default defineScriptlet({
  name: 'aggregate_metrics',
  outputs: ['metrics.aggregate_v1'],
  reads: Object.values(INPUTS),
  validate(ctx) {
    for (const key of Object.values(INPUTS)) ctx.require(key)
  },
  run(ctx, _params, { step }) {
    const read = (key: string): number => {
      const value = ctx.require(key)
      if (typeof value !== 'number')
        throw new ScriptletError(`ctx "${key}" is not a number`, { details: { key, type: typeof value } })
      return value
    }
    const aggregate = { mean: read(INPUTS.mean), median: read(INPUTS.median), std: read(INPUTS.std) }
    ctx.set('metrics.aggregate_v1', aggregate, { who: step })
    return { metrics: aggregate }
  },
})
