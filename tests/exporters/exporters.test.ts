import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import JSZip from 'jszip'
import { afterAll, describe, expect, test, vi } from 'vitest'
import { analyzeRun } from '../../plugin/analysis/run-summary.ts'
import { exportRun } from '../../plugin/exporters/index.ts'
import { renderMarkdown } from '../../plugin/exporters/markdown.ts'
import type { RunData, StepRow } from '../../plugin/store/run-data.ts'
import { runData, stepRow } from '../store/rows.ts'

// The step graph fails when a test says so: the documents must still be written, saying why.
const failing = vi.hoisted(() => ({ graph: false }))
vi.mock('../../plugin/charts/render.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../plugin/charts/render.ts')>()
  return {
    ...original,
    dotSvg: async (dot: string) => {
      if (failing.graph) throw new Error('Graphviz could not lay the graph out: out of memory')
      return original.dotSvg(dot)
    },
  }
})

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-exporters-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const step = (name: string, idx: number, extra: Partial<StepRow> = {}): StepRow => stepRow(name, { idx, ...extra })

/** A run of LAB-1 with these steps and, when given, a recipe's own summary in its ctx. */
function run(steps: StepRow[], summary?: string): RunData {
  return runData(
    steps,
    { metadata: { test_meta: { test_id: 'LAB-1', tester: 'ann', tags: ['a', 'b'] } } },
    summary === undefined ? {} : { context: [{ key: 'analysis.summary_v1', value: summary, who: 'sum', ts: null }] },
  )
}

describe('analyzeRun', () => {
  test('counts, failures with reasons, blocked steps, the slowest step, retries and metrics', () => {
    const data = run([
      step('boot', 1, {
        durationMs: 300,
        envelope: { status: 'ok', metrics: { temp_c: 41.5, fans: { front: 2, rear: 3 }, label: 'x' } },
      }),
      step('flash', 2, { durationMs: 100, attempts: 3 }),
      step('verify', 3, { status: 'failed', exitCode: 2, reason: 'checksum mismatch' }),
      step('report', 4, { status: 'blocked', exitCode: null, durationMs: 0, reason: 'blocked: verify failed' }),
    ])
    const analysis = analyzeRun(data)
    expect(analysis.summaryText.split('\n')).toEqual([
      'Run failed: 4 steps recorded (2 passed, 1 failed, 1 blocked) in 2.50 s.',
      'Step verify failed (exit 2): checksum mismatch.',
      'Blocked by an earlier step: report.',
      'Slowest step: boot, 300.0 ms (73% of step time).',
      'Passed after retrying: flash (3 attempts).',
    ])
    expect(analysis.metrics).toMatchObject({
      counts: { passed: 2, failed: 1, blocked: 1 },
      duration_ms: 2500,
      step_metrics: { boot: { temp_c: 41.5, 'fans.front': 2, 'fans.rear': 3 } },
    })
  })

  test("a recipe's own summary (ctx analysis.summary_v1) leads", () => {
    expect(analyzeRun(run([step('a', 1)], 'All ports at line rate.')).summaryText.split('\n')[0]).toBe(
      'All ports at line rate.',
    )
  })
})

test('renderMarkdown keeps table cells on one line and pipes escaped', () => {
  const md = renderMarkdown(run([step('a|b', 1, { status: 'failed', reason: 'line one\nline | two' })]))
  expect(md).toContain('| 1 | a\\|b | failed |')
  expect(md).toContain('| line one line \\| two |')
})

test('exportRun writes every format it can and reports the one it cannot', async () => {
  const data = run([step('a', 1)])
  const outcomes = await exportRun(data, join(dir, 'out'), ['md', 'json'])
  expect(outcomes.map((outcome) => [outcome.format, outcome.error])).toEqual([
    ['md', undefined],
    ['json', undefined],
  ])
  expect(JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8'))).toMatchObject({
    run: { runId: 'r1' },
    steps: [{ step: 'a' }],
  })
  // A directory cannot be created where a file stands: every format says so, nothing throws.
  const blocked = await exportRun(data, join(dir, 'out', 'report.md', 'sub'), ['md', 'xlsx'])
  expect(blocked.every((outcome) => outcome.error?.startsWith('cannot create'))).toBe(true)
  expect(readdirSync(join(dir, 'out')).sort()).toEqual(['report.json', 'report.md'])
})

test('the AI summary is shown beside the analysis in every document, marked as a suggestion or as unavailable', async () => {
  const answered: RunData = {
    ...run([step('a', 1)]),
    analysis: {
      summaryText: 'Run passed: 1 step recorded (1 passed).',
      metrics: {},
      ai: { status: 'answered', model: 'm1', endpoint: 'http://127.0.0.1:9', text: 'All good.', ms: 5, at: 'now' },
    },
  }
  const out = join(dir, 'ai')
  const outcomes = await exportRun(answered, out, ['md', 'docx', 'xlsx'])
  expect(outcomes.filter((outcome) => outcome.error)).toEqual([])
  const title = 'AI suggestion (m1 at http://127.0.0.1:9): check it against the data'
  expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain(`### ${title}\n\n> All good.`)
  const docx = await (await JSZip.loadAsync(readFileSync(join(out, 'report.docx'))))
    .file('word/document.xml')!
    .async('string')
  expect(docx).toContain(title)
  expect(docx).toContain('All good.')
  const workbook = await JSZip.loadAsync(readFileSync(join(out, 'report.xlsx')))
  // exceljs's streaming writer keeps strings inline in the sheet (or in sharedStrings.xml).
  const strings = (await workbook.file('xl/sharedStrings.xml')?.async('string')) ?? ''
  expect(strings + (await workbook.file('xl/worksheets/sheet1.xml')!.async('string'))).toContain(title)

  const unavailable: RunData = {
    ...answered,
    analysis: {
      ...answered.analysis!,
      ai: {
        status: 'unavailable',
        model: 'm1',
        endpoint: 'http://127.0.0.1:9',
        reason: 'connection refused',
        ms: 1,
        at: 'now',
      },
    },
  }
  expect(renderMarkdown(unavailable)).toContain(
    '### AI summary unavailable\n\n> m1 at http://127.0.0.1:9 gave no summary: connection refused. The heuristic analysis stands alone.',
  )
})

test('a chart that cannot be drawn loses no document: each says which and why, the other charts are written beside them', async () => {
  failing.graph = true
  try {
    const data = run([step('measure', 1, { envelope: { status: 'ok', metrics: { rate: 3 } } })])
    const out = join(dir, 'charts-fail')
    const outcomes = await exportRun(data, out, ['xlsx', 'docx', 'md'])
    expect(outcomes.map((outcome) => [outcome.format, outcome.error])).toEqual([
      ['xlsx', undefined],
      ['docx', undefined],
      ['md', undefined],
    ])
    expect(readdirSync(join(out, 'charts')).sort()).toEqual(['metric_measure.rate.png', 'step_durations.png'])
    const why = 'Step graph could not be drawn: Graphviz could not lay the graph out: out of memory'
    const md = readFileSync(join(out, 'report.md'), 'utf8')
    expect(md).toContain('![Step durations](charts/step_durations.png)')
    expect(md).toContain('![measure.rate](charts/metric_measure.rate.png)')
    expect(md).toContain(`- _${why}_`)
    const docx = await JSZip.loadAsync(readFileSync(join(out, 'report.docx')))
    expect(await docx.file('word/document.xml')!.async('string')).toContain(why)
    expect(
      Object.keys(docx.files).filter((name) => name.startsWith('word/media/') && !name.endsWith('/')),
    ).toHaveLength(2)
    const xlsx = await JSZip.loadAsync(readFileSync(join(out, 'report.xlsx')))
    expect(Object.keys(xlsx.files).filter((name) => name.startsWith('xl/media/'))).toHaveLength(2)
    expect(await xlsx.file('[Content_Types].xml')!.async('string')).toContain('/xl/drawings/drawing1.xml')
  } finally {
    failing.graph = false
  }
})
