import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { runScriptletStandalone, type JsonObject, type Scriptlet } from 'vitest-recipes/scriptlet'
import aggregateMetrics from '../../scriptlets/steps/aggregate_metrics.ts'
import { ComputeMean } from '../../scriptlets/steps/compute_mean.ts'
import { ComputeMedian } from '../../scriptlets/steps/compute_median.ts'
import { ComputeMetricsV2 } from '../../scriptlets/steps/compute_metrics_v2.ts'
import { ComputeStd } from '../../scriptlets/steps/compute_std.ts'
import normalizeNumbers from '../../scriptlets/steps/normalize_numbers.ts'

// The example scriptlets that the example recipes of this issue do not all exercise,
// run through the same harness as `recipes step`.
const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-examples-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const run = (scriptlet: Scriptlet<never>, initialContext: JsonObject, params: JsonObject = {}) =>
  runScriptletStandalone({ scriptlet: scriptlet as Scriptlet, params, initialContext, step: 'example', root })

const numbers = { 'numbers.validated_v1': [2, 4, 4, 4, 5, 5, 7, 9] }

describe('metric scriptlets', () => {
  test('mean, median and std fan in to aggregate_metrics', async () => {
    const mean = await run(new ComputeMean(), numbers)
    const median = await run(new ComputeMedian(), numbers)
    const std = await run(new ComputeStd(), numbers)
    expect([mean.envelope.status, median.envelope.status, std.envelope.status]).toEqual(['ok', 'ok', 'ok'])
    const inputs = { ...mean.context, ...median.context, ...std.context }
    expect(inputs).toMatchObject({ 'metrics.mean_v1': 5, 'metrics.median_v1': 4.5, 'metrics.std_v1': 2 })
    const aggregate = await run(aggregateMetrics, inputs)
    expect(aggregate.context['metrics.aggregate_v1']).toEqual({ mean: 5, median: 4.5, std: 2 })
  })

  test('compute_metrics_v2 keeps writing summary_v1 for older consumers', async () => {
    const { envelope, context } = await run(new ComputeMetricsV2(), numbers)
    expect(envelope).toMatchObject({ status: 'ok', outputs: expect.arrayContaining(['metrics.summary_v1', 'metrics.summary_v2']) })
    expect(context['metrics.summary_v1']).toEqual({ count: 8, mean: 5, min: 2, max: 9 })
    expect(context['metrics.summary_v2']).toEqual({ count: 8, mean: 5, min: 2, max: 9, median: 4.5, std: 2, range: 7 })
  })

  test('a missing input is a dependency error (exit code 2)', async () => {
    const { envelope } = await run(aggregateMetrics, {})
    expect(envelope).toMatchObject({ status: 'error', exit_code: 2 })
  })
})

test('normalize_numbers writes its artifact under the root and lists it', async () => {
  const { envelope, context } = await run(normalizeNumbers, { 'numbers.validated_v1': [10, 20, 30] }, { out: 'Data/normalized.json' })
  expect(envelope).toMatchObject({ status: 'ok', artifacts: ['Data/normalized.json'] })
  expect(context['numbers.normalized_v1']).toEqual([0, 0.5, 1])
  expect(JSON.parse(readFileSync(join(root, 'Data/normalized.json'), 'utf8')).normalized).toEqual([0, 0.5, 1])
  const escape = await run(normalizeNumbers, { 'numbers.validated_v1': [1, 2] }, { out: '../outside.json' })
  expect(escape.envelope).toMatchObject({ status: 'error', exit_code: 3 })
})
