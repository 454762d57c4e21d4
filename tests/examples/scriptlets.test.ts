import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, test } from 'vitest'
import { runScriptletStandalone, type JsonObject, type Scriptlet } from 'vitest-recipes/scriptlet'
import aggregateMetrics from '../../scriptlets/steps/aggregate_metrics.ts'
import cacheNumbers from '../../scriptlets/steps/cache_numbers.ts'
import { ComputeMean } from '../../scriptlets/steps/compute_mean.ts'
import { ComputeMedian } from '../../scriptlets/steps/compute_median.ts'
import { ComputeMetricsV2 } from '../../scriptlets/steps/compute_metrics_v2.ts'
import { ComputeStd } from '../../scriptlets/steps/compute_std.ts'
import generateReport from '../../scriptlets/steps/generate_report.ts'
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
    expect(envelope).toMatchObject({
      status: 'ok',
      outputs: expect.arrayContaining(['metrics.summary_v1', 'metrics.summary_v2']),
    })
    expect(context['metrics.summary_v1']).toEqual({ count: 8, mean: 5, min: 2, max: 9 })
    expect(context['metrics.summary_v2']).toEqual({ count: 8, mean: 5, min: 2, max: 9, median: 4.5, std: 2, range: 7 })
  })

  test('a missing input is a dependency error (exit code 2)', async () => {
    const { envelope } = await run(aggregateMetrics, {})
    expect(envelope).toMatchObject({ status: 'error', exit_code: 2 })
  })
})

test('normalize_numbers writes its artifact under the root and lists it', async () => {
  const { envelope, context } = await run(
    normalizeNumbers,
    { 'numbers.validated_v1': [10, 20, 30] },
    { out: 'Data/normalized.json' },
  )
  expect(envelope).toMatchObject({ status: 'ok', artifacts: ['Data/normalized.json'] })
  expect(context['numbers.normalized_v1']).toEqual([0, 0.5, 1])
  expect(JSON.parse(readFileSync(join(root, 'Data/normalized.json'), 'utf8')).normalized).toEqual([0, 0.5, 1])
  const escaped = await run(normalizeNumbers, { 'numbers.validated_v1': [1, 2] }, { out: '../outside.json' })
  expect(escaped.envelope).toMatchObject({ status: 'error', exit_code: 3 })
})

test('cache_numbers: the same inputs are a miss, then a hit; a missing input is exit code 3', async () => {
  mkdirSync(join(root, 'Data'), { recursive: true })
  writeFileSync(join(root, 'Data/cached.txt'), '1 2 3\n')
  const params = { inputs: ['Data/cached.txt'], dir: '.cache/numbers' }
  const miss = await run(cacheNumbers, {}, params)
  expect(miss.envelope).toMatchObject({ status: 'ok', metrics: { hit: 0 } })
  expect(miss.context['cache.numbers_hit_v1']).toBe(false)
  const hash = miss.context['cache.numbers_hash_v1'] as string
  expect(hash).toMatch(/^[0-9a-f]{64}$/)
  expect(existsSync(join(root, '.cache/numbers', `${hash}.json`))).toBe(true)
  const hit = await run(cacheNumbers, {}, params)
  expect(hit.context).toEqual({ 'cache.numbers_hash_v1': hash, 'cache.numbers_hit_v1': true })
  writeFileSync(join(root, 'Data/cached.txt'), '1 2 4\n')
  const changed = await run(cacheNumbers, {}, params)
  expect(changed.context['cache.numbers_hit_v1']).toBe(false)
  expect(changed.context['cache.numbers_hash_v1']).not.toBe(hash)
  const missing = await run(cacheNumbers, {}, { inputs: ['Data/nowhere.txt'] })
  expect(missing.envelope).toMatchObject({ status: 'error', exit_code: 3 })
  const outside = await run(cacheNumbers, {}, { inputs: ['../outside.txt'] })
  expect(outside.envelope).toMatchObject({ status: 'error', exit_code: 3 })
})

describe('generate_report', () => {
  const repo = fileURLToPath(new URL('../../', import.meta.url))
  const summaryV2 = { count: 5, mean: 4, min: 1, max: 10, median: 3, std: 3.1622776601683795, range: 9 }
  const metrics = {
    'numbers.raw_v1': [1, 2, 3, 4, 10],
    'metrics.summary_v1': { count: 5, mean: 4, min: 1, max: 10 },
    'metrics.summary_v2': summaryV2,
  }
  const template = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
  }

  test('fills the example template from ctx and records the report path', async () => {
    mkdirSync(join(root, 'templates'), { recursive: true })
    copyFileSync(join(repo, 'templates/report_template.md'), join(root, 'templates/report_template.md'))
    const { envelope, context } = await run(generateReport, metrics)
    expect(envelope).toMatchObject({
      status: 'ok',
      outputs: ['report.path_v1'],
      artifacts: ['Data/report.md'],
      warnings: [],
    })
    expect(context['report.path_v1']).toBe('Data/report.md')
    const report = readFileSync(join(root, 'Data/report.md'), 'utf8')
    expect(envelope).toMatchObject({ metrics: { placeholders: 12, bytes: Buffer.byteLength(report) } })
    const lines = report.split('\n')
    expect(lines[0]).toBe('# Metrics report')
    expect(lines[2]).toMatch(/^Generated by step `example` at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\.$/)
    expect(lines).toEqual(
      expect.arrayContaining([
        '| mean | 4 |',
        '| median | 3 |',
        '| std (population) | 3.1622776601683795 |',
        '| range | 9 |',
      ]),
    )
    // a list of scalars: one-line fenced JSON; an object of scalars: a key | value table
    expect(report).toContain('```json\n[1,2,3,4,10]\n```')
    expect(report).toContain(
      '| key | value |\n| --- | --- |\n| count | 5 |\n| mean | 4 |\n| min | 1 |\n| max | 10 |\n| median | 3 |',
    )
    expect(report).not.toMatch(/\{\{|\}\}/)
  })

  test('renders inline values, nested paths, lists of rows and nested JSON', async () => {
    template(
      'templates/shapes.md',
      [
        'n={{ numbers.raw_v1.4 }} inline={{ metrics.summary_v1 }}',
        '{{ table.rows_v1 }}',
        '{{ table.nested_v1 }}',
        '',
      ].join('\n'),
    )
    const ctx = {
      ...metrics,
      'table.rows_v1': [
        { port: 'eth0', up: true },
        { port: 'eth|1', up: false },
      ],
      'table.nested_v1': { a: { b: [1] } },
    }
    const { envelope } = await run(generateReport, ctx, { template: 'templates/shapes.md', out: 'Data/shapes.md' })
    expect(envelope).toMatchObject({ status: 'ok', artifacts: ['Data/shapes.md'], metrics: { placeholders: 4 } })
    expect(readFileSync(join(root, 'Data/shapes.md'), 'utf8').split('\n')).toEqual([
      'n=10 inline=`{"count":5,"mean":4,"min":1,"max":10}`',
      '| port | up |',
      '| --- | --- |',
      '| eth0 | true |',
      '| eth\\|1 | false |',
      '```json',
      '{',
      '  "a": {',
      '    "b": [',
      '      1',
      '    ]',
      '  }',
      '}',
      '```',
      '',
    ])
  })

  test('template or out leading outside the project root: exit code 3 naming the param', async () => {
    for (const [params, param] of [
      [{ out: '../outside.md' }, 'out'],
      [{ out: 'Data/../../outside.md' }, 'out'],
      [{ out: join(tmpdir(), 'outside.md') }, 'out'],
      [{ template: '../etc/passwd' }, 'template'],
      [{ template: '/etc/passwd' }, 'template'],
    ] as const) {
      const { envelope } = await run(generateReport, metrics, params)
      expect(envelope).toMatchObject({ status: 'error', exit_code: 3, details: { param } })
      expect(envelope.status === 'error' && envelope.reason).toMatch(
        new RegExp(`^param "${param}": .* leads outside the project root; use a path inside the project root`),
      )
    }
    expect(existsSync(join(root, '..', 'outside.md'))).toBe(false)
    // nor through a symlink inside the root
    symlinkSync(tmpdir(), join(root, 'escaped'))
    const linked = await run(generateReport, metrics, { out: 'escaped/outside.md' })
    expect(linked.envelope).toMatchObject({ status: 'error', exit_code: 3, details: { param: 'out' } })
    expect(linked.envelope.status === 'error' && linked.envelope.reason).toContain('through a symlink')
    // an absolute path that stays inside the root is fine
    const inside = await run(generateReport, metrics, {
      template: join(root, 'templates/report_template.md'),
      out: join(root, 'Data/abs.md'),
    })
    expect(inside.envelope).toMatchObject({ status: 'ok', artifacts: ['Data/abs.md'] })
  })

  test('a placeholder absent from ctx: exit code 2 with the template file:line', async () => {
    template(
      'templates/partial.md',
      [
        '# Report',
        '',
        'mean: {{ metrics.summary_v2.mean }}',
        'p99: {{ metrics.summary_v2.p99 }}',
        '{{ metrics.latency_v1 }}',
        '',
      ].join('\n'),
    )
    rmSync(join(root, 'Data/partial.md'), { force: true })
    const { envelope, context } = await run(generateReport, metrics, {
      template: 'templates/partial.md',
      out: 'Data/partial.md',
    })
    expect(envelope).toMatchObject({ status: 'error', exit_code: 2 })
    expect(envelope.status === 'error' && envelope.reason).toBe(
      '2 placeholders are not in ctx: templates/partial.md:4: {{ metrics.summary_v2.p99 }} is not in ctx (metrics.summary_v2 has no "p99"); ' +
        'templates/partial.md:5: {{ metrics.latency_v1 }} is not in ctx (run the step that writes it first, or set missing: blank)',
    )
    expect(context['report.path_v1']).toBeUndefined()
    expect(existsSync(join(root, 'Data/partial.md'))).toBe(false)

    const one = await run(generateReport, {}, { template: 'templates/partial.md', out: 'Data/partial.md' })
    expect(one.envelope.status === 'error' && one.envelope.reason).toMatch(
      /^3 placeholders are not in ctx: templates\/partial\.md:3: \{\{ metrics\.summary_v2\.mean \}\} is not in ctx;/,
    )
  })

  test("missing: 'blank' renders absent placeholders as nothing, with a warning each", async () => {
    const { envelope, context } = await run(generateReport, metrics, {
      template: 'templates/partial.md',
      out: 'Data/partial.md',
      missing: 'blank',
    })
    expect(envelope).toMatchObject({
      status: 'ok',
      warnings: [
        'templates/partial.md:4: {{ metrics.summary_v2.p99 }} is not in ctx (metrics.summary_v2 has no "p99"): rendered blank',
        'templates/partial.md:5: {{ metrics.latency_v1 }} is not in ctx: rendered blank',
      ],
    })
    expect(context['report.path_v1']).toBe('Data/partial.md')
    expect(readFileSync(join(root, 'Data/partial.md'), 'utf8')).toBe('# Report\n\nmean: 4\np99: \n\n')
  })

  test('a malformed placeholder or a missing template: exit code 3', async () => {
    template('templates/bad.md', 'ok\n{{ metrics.summary_v2 | upper }}\n')
    const bad = await run(generateReport, metrics, { template: 'templates/bad.md' })
    expect(bad.envelope).toMatchObject({ status: 'error', exit_code: 3 })
    expect(bad.envelope.status === 'error' && bad.envelope.reason).toMatch(
      /^templates\/bad\.md:2: \{\{ metrics\.summary_v2 \| upper \}\} is not a placeholder/,
    )
    const none = await run(generateReport, metrics, { template: 'templates/nowhere.md' })
    expect(none.envelope).toMatchObject({ status: 'error', exit_code: 3, details: { param: 'template' } })
    const bogus = await run(generateReport, metrics, { missing: 'ignore' })
    expect(bogus.envelope).toMatchObject({ status: 'error', exit_code: 3 })
  })
})
