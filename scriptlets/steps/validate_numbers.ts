/**
 * NAME:    validate_numbers
 * DESC:    Checks the loaded numbers (how many, and optionally their range) and passes
 *          them on as the validated list downstream steps compute on.
 * PARAMS:  min_count (int >= 0, default 1); min (number, optional); max (number, optional)
 * INPUTS:  numbers.raw_v1
 * OUTPUTS: numbers.validated_v1 (number[], same order as raw)
 * ERRORS:  exit 1 "Too few numbers (min=N)" {count, min_count};
 *          exit 1 "Numbers out of range [min, max]" {out_of_range, count};
 *          exit 2 when numbers.raw_v1 is missing; exit 3 for invalid params.
 * STYLE:   class form (BaseScriptlet): recipes name it with `class: ValidateNumbers`
 *          or `function: ValidateNumbers`.
 */
import { z } from 'zod'
import {
  BaseScriptlet,
  parseParams,
  ScriptletError,
  type ScriptletContext,
  type ScriptletTools,
} from 'vitest-recipes/scriptlet'
import { requireNumbers } from '../lib/numbers.ts'

const paramsSchema = z
  .object({
    min_count: z.int().min(0).default(1),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .refine((p) => p.min === undefined || p.max === undefined || p.min <= p.max, {
    message: 'min must not exceed max',
    path: ['min'],
  })

type Params = z.input<typeof paramsSchema>

export class ValidateNumbers extends BaseScriptlet<Params> {
  override readonly outputs = ['numbers.validated_v1']
  override readonly reads = ['numbers.raw_v1']
  override readonly paramsSchema = paramsSchema

  /** Bad params or a missing input fail here, before run writes anything. */
  override validate(ctx: ScriptletContext, params: Params): void {
    parseParams(paramsSchema, params, 'validate_numbers')
    requireNumbers(ctx, 'numbers.raw_v1')
  }

  run(ctx: ScriptletContext, params: Params, { step }: ScriptletTools) {
    const { min_count, min, max } = parseParams(paramsSchema, params, 'validate_numbers')
    const values = requireNumbers(ctx, 'numbers.raw_v1')
    if (values.length < min_count) {
      throw new ScriptletError(`Too few numbers (min=${min_count})`, { details: { count: values.length, min_count } })
    }
    const outOfRange = values.filter((v) => (min !== undefined && v < min) || (max !== undefined && v > max))
    if (outOfRange.length > 0) {
      throw new ScriptletError(`Numbers out of range [${min ?? '-inf'}, ${max ?? 'inf'}]`, {
        details: { out_of_range: outOfRange.slice(0, 20), count: values.length },
      })
    }
    ctx.set('numbers.validated_v1', [...values], { who: step })
    return { metrics: { count: values.length } }
  }
}
