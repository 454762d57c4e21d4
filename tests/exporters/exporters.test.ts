import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import JSZip from 'jszip'
import { afterAll, describe, expect, test, vi } from 'vitest'
import { analyzeRun } from '../../plugin/analysis/run-summary.ts'
import { renderDocx } from '../../plugin/exporters/docx.ts'
import { exportRun } from '../../plugin/exporters/index.ts'
import { renderMarkdown } from '../../plugin/exporters/markdown.ts'
import { STATUS_COLORS } from '../../plugin/format/run-format.ts'
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

/** Whether this process can lower and raise its own file size limit (util-linux prlimit): a disk that fills, below. */
const canLimitFileSize = spawnSync('prlimit', ['--pid', String(process.pid), '--fsize=unlimited:']).status === 0

test.runIf(canLimitFileSize)(
  'a disk that fills while a document is written: the outcome says which file, that the disk is full and what to do; the document before stays whole',
  async () => {
    const out = join(dir, 'full')
    const data = run(
      Array.from({ length: 80 }, (_, index) => step(`step_${index}`, index + 1, { reason: 'x'.repeat(200) })),
    )
    await exportRun(data, out, ['md'])
    const before = readFileSync(join(out, 'report.md'), 'utf8')
    expect(before.length).toBeGreaterThan(8000)
    writeFileSync(join(out, 'other.txt'), '')
    // Files of this process may grow to 4 KB: the kernel refuses the rest of the document (EFBIG, as ENOSPC).
    const limit = (value: string) =>
      expect(spawnSync('prlimit', ['--pid', String(process.pid), `--fsize=${value}:`]).status).toBe(0)
    limit('4096')
    let outcomes: Awaited<ReturnType<typeof exportRun>>
    try {
      outcomes = await exportRun(data, out, ['md'])
    } finally {
      limit('unlimited')
    }
    expect(outcomes[0]?.error).toBe(
      `EFBIG: file too large, write: writing ${join(out, 'report.md')}; the disk is full (or a quota or file size limit is reached): free some space, then write the documents again`,
    )
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toBe(before)
    expect(readdirSync(out).sort()).toEqual(['other.txt', 'report.md'])
  },
)

/** Each row of each table of a Word document, cell by cell: its text, width and shading. */
async function docxTableRows(
  docx: Buffer,
): Promise<{ text: string; width: string | undefined; fill: string | undefined }[][][]> {
  const xml = await (await JSZip.loadAsync(docx)).file('word/document.xml')!.async('string')
  const cellOf = (cell: string) => ({
    text: [...cell.matchAll(/<w:t(?: [^>]*)?>([^<]*)<\/w:t>/g)].map((match) => match[1]).join(''),
    width: /<w:tcW [^>]*w:w="(\d+)"/.exec(cell)?.[1],
    fill: /<w:shd [^>]*w:fill="([0-9A-F]+)"/.exec(cell)?.[1],
  })
  return [...xml.matchAll(/<w:tbl>.*?<\/w:tbl>/gs)].map(([table]) =>
    [...table.matchAll(/<w:tr>.*?<\/w:tr>/gs)].map(([row]) =>
      [...row.matchAll(/<w:tc>.*?<\/w:tc>/gs)].map(([cell]) => cellOf(cell)),
    ),
  )
}

test('report.docx shows each row of its tables whole, the values many rows share (status, duration, exit code, reason) in each', async () => {
  const steps = Array.from({ length: 12 }, (_, i) =>
    step(`s${i + 1}`, i + 1, {
      status: i % 3 === 2 ? 'failed' : 'passed',
      durationMs: i % 2 ? 10 : 20,
      exitCode: i % 3 === 2 ? 1 : null,
      reason: i % 3 === 2 ? 'too slow' : null,
    }),
  )
  const data = runData(
    steps,
    {},
    { context: [0, 1, 2, 3].map((n) => ({ key: `k${n}`, value: n % 2, who: 's1', ts: null })) },
  )
  const [, stepTable, context] = await docxTableRows(await renderDocx(data))
  const texts = (table: { text: string }[][]) => table.map((row) => row.map((cell) => cell.text))
  expect(texts(stepTable!)).toEqual([
    ['#', 'step', 'status', 'duration', 'exit', 'reason'],
    ...steps.map((row) => [
      String(row.idx),
      row.step,
      row.status,
      row.durationMs === 10 ? '10.0 ms' : '20.0 ms',
      row.exitCode === null ? '' : '1',
      row.reason ?? '',
    ]),
  ])
  // Every row's cells as wide as the header's, each status shaded in its own colour.
  for (const row of stepTable!) expect(row.map((cell) => cell.width)).toEqual(stepTable![0]!.map((cell) => cell.width))
  expect(stepTable!.slice(1).map((row) => row[2]!.fill)).toEqual(steps.map((row) => STATUS_COLORS[row.status]))
  expect(texts(context!)).toEqual([
    ['key', 'value', 'who'],
    ['k0', '0', 's1'],
    ['k1', '1', 's1'],
    ['k2', '0', 's1'],
    ['k3', '1', 's1'],
  ])
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
