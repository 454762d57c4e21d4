import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import type { DocumentCharts } from '../../plugin/charts/index.ts'
import { exportRun } from '../../plugin/exporters/index.ts'
import {
  embedJson,
  HTML_CONTEXT_KEYS,
  HTML_HISTORY_PER_KEY,
  HTML_LOG_MAX,
  renderHtml,
  trimJson,
} from '../../plugin/exporters/html.ts'
import type { HistoryRow, RunData, StepRow } from '../../plugin/store/run-data.ts'
import { runData, stepRow } from '../store/rows.ts'

// report.html is the dashboard's page (web/dashboard.html) with the answers of its routes for
// one run embedded: these tests read that data back the way a browser's HTML parser does.

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-html-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const PAGE = readFileSync(new URL('../../web/dashboard.html', import.meta.url), 'utf8')
const BASE = '/api/runs/r%2F1'

/** What a `</script>`, `<!--` or `$&` in the data would break, were it written as it is. */
const HOSTILE = "</script><script>window.broken = 1</script><!-- <script> </SCRIPT > $& $' $` \u2028 end"

/** A run whose title and analysis carry HOSTILE, with `extra` (its ctx, its history) on top. */
function run(steps: StepRow[], extra: Partial<Omit<RunData, 'run' | 'steps'>> = {}): RunData {
  return runData(
    steps,
    { runId: 'r/1', metadata: { test_meta: { test_id: 'LAB-1', description: HOSTILE } } },
    { analysis: { summaryText: `Run failed. ${HOSTILE}`, metrics: {} }, ...extra },
  )
}

/**
 * The embedded data as a browser reads it: the script element ends at the first `</script`
 * (any case) after its start tag, whatever JSON would say; then the text is parsed.
 */
function embedded(html: string) {
  const start = html.indexOf('<script type="application/json" id="report-data">')
  expect(start).toBeGreaterThan(0)
  const textStart = html.indexOf('>', start) + 1
  const end = html.slice(textStart).search(/<\/script/i) + textStart
  const text = html.slice(textStart, end)
  // The HTML parser's escaped states begin at `<!--`: the text must hold no `<` at all.
  expect(text).not.toContain('<')
  return {
    data: JSON.parse(text) as {
      runId: string
      title: string
      notes: string[]
      openStep: string | null
      answers: Record<string, { body?: unknown; error?: string }>
    },
    /** The file with the data taken out: the page as the dashboard serves it. */
    page: `${html.slice(0, start)}<!--report-data-->${html.slice(end + '</script>'.length)}`,
  }
}

function writeLog(name: string, text: string): string {
  mkdirSync(join(root, 'Logs', 'r1'), { recursive: true })
  writeFileSync(join(root, 'Logs', 'r1', name), text)
  return `Logs/r1/${name}`
}

function historyRow(seq: number, key: string, before: unknown, after: unknown): HistoryRow {
  return { seq, key, who: 'w', ts: null, step: 's', before: before as never, after: after as never }
}

describe('embedJson', () => {
  test('escapes every character that could end or confuse a script element, and parses back to the same value', () => {
    const value = { text: HOSTILE, [HOSTILE]: [HOSTILE, '&amp; <b>'] }
    const text = embedJson(value)
    expect(text).not.toMatch(/[<>&\u2028\u2029]/)
    expect(JSON.parse(text)).toEqual(value)
  })
})

describe('trimJson', () => {
  test('keeps a small value whole and cuts a large one in its own shape, saying how much is left out', () => {
    expect(trimJson({ a: [1, 2, 'x'] }, 100)).toEqual({ a: [1, 2, 'x'] })
    const long = trimJson('x'.repeat(5000), 100) as string
    expect(long.length).toBeLessThan(200)
    expect(long).toMatch(/^x{100}… \(4,900 more characters\)$/)
    const list = trimJson(
      Array.from({ length: 1000 }, (_, i) => i),
      100,
    ) as unknown[]
    expect(list.at(-1)).toMatch(/^… \d+ more items$/)
    expect(JSON.stringify(list).length).toBeLessThan(200)
    const object = trimJson(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])), 100)
    expect(Object.keys(object as object).at(-1)).toBe('…')
    expect(JSON.stringify(object).length).toBeLessThan(200)
  })
})

describe('renderHtml', () => {
  const steps = [
    stepRow('boot', { idx: 1, logPath: writeLog('1_boot.log', `booted ${HOSTILE}\n`) }),
    stepRow('flash', {
      idx: 2,
      status: 'failed',
      attempts: 2,
      reason: `checksum mismatch ${HOSTILE}`,
      attemptLog: [
        { attempt: 1, status: 'failed', reason: 'checksum mismatch', durationMs: 5 },
        { attempt: 2, status: 'failed', reason: 'checksum mismatch', durationMs: 6 },
      ],
      logPath: writeLog('2_flash.log', `${'a'.repeat(HTML_LOG_MAX)}the end: checksum mismatch`),
    }),
    stepRow('quiet', { idx: 3 }),
    stepRow('escaped', { idx: 4, logPath: '../outside.log' }),
  ]
  const charts: DocumentCharts = {
    charts: [
      {
        name: 'step_durations',
        title: 'Step durations',
        svg: `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>${HOSTILE.replace(/[<&]/g, '')}</text></svg>`,
        png: new Uint8Array(),
        width: 10,
        height: 10,
        scale: 1,
      },
    ],
    problems: [{ name: 'step_sequence', title: 'Step graph', error: 'Graphviz could not lay the graph out: boom' }],
    notes: [],
  }
  const context = [
    { key: 'lab.note_v1', value: HOSTILE, who: 'boot', ts: null },
    { key: 'lab.big_v1', value: 'y'.repeat(100_000), who: 'boot', ts: null },
  ]
  const history = [
    historyRow(1, 'lab.note_v1', undefined, 'first'),
    historyRow(2, 'lab.note_v1', 'first', HOSTILE),
    historyRow(3, 'lab.big_v1', undefined, 'y'.repeat(100_000)),
  ]
  const data = run(steps, { context, history: { count: history.length, rows: () => history } })

  test('is the dashboard page itself with the answers of its routes for the run embedded, data that breaks nothing', async () => {
    const html = await renderHtml(data, charts, { logs: { root }, written: '2026-01-02T03:04:05.000Z' })
    const { data: report, page } = embedded(html)
    // One definition: take the data out and what is left is the dashboard's page, byte for byte.
    expect(page).toBe(PAGE)
    expect(report.runId).toBe('r/1')
    expect(report.title).toBe(`LAB-1 — ${HOSTILE}`)
    expect(report.openStep).toBe('flash')
    const run = report.answers[BASE]!.body as { run: { runId: string }; steps: StepRow[]; context: unknown[] }
    expect(run.run.runId).toBe('r/1')
    expect(run.steps.map((step) => step.reason)).toEqual([null, `checksum mismatch ${HOSTILE}`, null, null])
    expect(run.context[0]).toEqual(context[0])
    expect(report.answers[`${BASE}/charts`]!.body).toEqual({
      charts: [{ name: 'step_durations', title: 'Step durations' }],
    })
    const picture = report.answers[`${BASE}/charts/step_durations.svg`]!.body as string
    expect(picture).toMatch(/^data:image\/svg\+xml;base64,/)
    expect(Buffer.from(picture.split(',')[1]!, 'base64').toString()).toBe(charts.charts[0]!.svg)
    expect(report.answers[`${BASE}/history?key=lab.note_v1`]!.body).toEqual({
      key: 'lab.note_v1',
      rows: [
        { seq: 1, key: 'lab.note_v1', who: 'w', ts: null, step: 's', before: null, after: 'first' },
        { seq: 2, key: 'lab.note_v1', who: 'w', ts: null, step: 's', before: 'first', after: HOSTILE },
      ],
    })
    expect(report.answers[`${BASE}/log?step=boot`]!.body).toBe(`booted ${HOSTILE}\n`)
    expect(report.answers[`${BASE}/log?step=escaped`]!.error).toBe(
      "the log ../outside.log is outside the project's Logs folder",
    )
    expect(report.answers[`${BASE}/log?step=quiet`]).toBeUndefined()
    expect(report.notes).toContain('Step graph could not be drawn: Graphviz could not lay the graph out: boom')
  })

  test('refers to nothing outside the file: no address in an attribute, a stylesheet or an import', async () => {
    const html = await renderHtml(data, charts, { logs: { root } })
    expect(html).not.toMatch(/\b(src|href|action|srcset|poster|data)\s*=\s*["']?\s*(https?:)?\/\//i)
    expect(html).not.toMatch(/<link\b|@import|url\(\s*["']?(https?:)?\/\//i)
    expect(html).not.toMatch(/<(img|script|iframe)\b[^>]*\bsrc=["'](?!\$\{)/i)
  })

  test('a large run is cut the way the dashboard and report.json cut it, and the file says what it left out', async () => {
    const many = Array.from({ length: HTML_CONTEXT_KEYS + 5 }, (_, i) => ({
      key: `k.${String(i).padStart(5, '0')}_v1`,
      value: i,
      who: 'w',
      ts: null,
    }))
    const writes = Array.from({ length: HTML_HISTORY_PER_KEY + 7 }, (_, i) => historyRow(i + 1, 'k.00000_v1', i, i + 1))
    const big = run(steps, {
      context: [...context, ...many],
      history: { count: writes.length + history.length, rows: () => [...history, ...writes] },
    })
    const { data: report } = embedded(await renderHtml(big, charts, { logs: { root } }))
    const shown = report.answers[BASE]!.body as { context: { key: string; value: unknown }[] }
    expect(shown.context).toHaveLength(HTML_CONTEXT_KEYS)
    // A large value is cut in its own shape (the page shows its start).
    expect(String(shown.context.find((row) => row.key === 'lab.big_v1')!.value)).toMatch(
      /^y+… \([\d,]+ more characters\)$/,
    )
    const kept = (report.answers[`${BASE}/history?key=k.00000_v1`]!.body as { rows: { seq: number }[] }).rows
    expect(kept).toHaveLength(HTML_HISTORY_PER_KEY)
    expect(kept.at(-1)!.seq).toBe(HTML_HISTORY_PER_KEY + 7)
    const bigWrite = (report.answers[`${BASE}/history?key=lab.big_v1`]!.body as { rows: { after: unknown }[] }).rows[0]!
    expect(JSON.stringify(bigWrite).length).toBeLessThan(5000)
    const log = report.answers[`${BASE}/log?step=flash`]!.body as string
    expect(log.length).toBeLessThanOrEqual(HTML_LOG_MAX + 200)
    expect(log).toMatch(/bytes of this log are left out here/)
    expect(log.endsWith('the end: checksum mismatch')).toBe(true)
    const notes = report.notes.join('\n')
    expect(notes).toMatch(/the first 1,000 of 1,007 ctx keys/)
    expect(notes).toMatch(/k\.00000_v1: its last 100 of 107 writes/)
    expect(notes).toMatch(/flash/)
    expect(notes).toMatch(/Logs\/r1\/2_flash\.log/)
  })
})

test('a report.html that cannot be written is an outcome with its reason; the other documents are written', async () => {
  const out = join(root, 'blocked')
  // A folder with something in it where report.html goes: the rename into place fails.
  mkdirSync(join(out, 'report.html', 'inside'), { recursive: true })
  const outcomes = await exportRun(run([stepRow('a')]), out, ['md', 'html', 'json'])
  expect(outcomes.map((outcome) => [outcome.format, outcome.error === undefined])).toEqual([
    ['md', true],
    ['html', false],
    ['json', true],
  ])
  expect(outcomes[1]!.error).toMatch(/report\.html/)
  expect(readdirSync(out).sort()).toEqual(['charts', 'report.html', 'report.json', 'report.md'])
})
