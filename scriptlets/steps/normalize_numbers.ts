/**
 * NAME:    normalize_numbers
 * DESC:    Scales the validated numbers linearly to 0..1 (min → 0, max → 1) and writes
 *          them, with their stats, to a JSON artifact as well as to ctx.
 * PARAMS:  out (string, default Data/normalized.json): artifact path relative to the project root
 * INPUTS:  numbers.validated_v1
 * OUTPUTS: numbers.normalized_v1 (number[]), numbers.stats_v1 ({min, max, count})
 * ARTIFACTS: Data/normalized.json (generated; ignored by Data/.gitignore)
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { z } from 'zod'
import { defineScriptlet } from 'vitest-recipes/scriptlet'
import { requireNonEmptyNumbers } from '../lib/numbers.ts'
import { max, min, normalize } from '../lib/stats.ts'

const insideRoot = (path: string) => !isAbsolute(path) && !path.split(/[\\/]/).includes('..')

export default defineScriptlet({
  name: 'normalize_numbers',
  params: z.object({
    out: z
      .string()
      .min(1)
      .refine(insideRoot, { message: 'must be a relative path inside the project root (no "..")' })
      .default('Data/normalized.json'),
  }),
  outputs: ['numbers.normalized_v1', 'numbers.stats_v1'],
  reads: ['numbers.validated_v1'],
  run(ctx, { out }, { step, root, log }) {
    const values = requireNonEmptyNumbers(ctx, 'numbers.validated_v1')
    const normalized = normalize(values)
    const stats = { min: min(values), max: max(values), count: values.length }
    const warnings = stats.min === stats.max ? [`all ${stats.count} numbers equal ${stats.min}: normalized to 0`] : []

    ctx.set('numbers.normalized_v1', normalized, { who: step })
    ctx.set('numbers.stats_v1', stats, { who: step })

    const path = resolve(root, out)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, `${JSON.stringify({ source: 'numbers.validated_v1', stats, normalized }, null, 2)}\n`)
    log(`${step}: wrote ${out}`)
    return { artifacts: [out], metrics: { count: stats.count }, warnings }
  },
})
