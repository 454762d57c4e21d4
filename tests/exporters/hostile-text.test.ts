import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import JSZip from 'jszip'
import { afterAll, expect, test } from 'vitest'
import { analyzeRun } from '../../plugin/analysis/run-summary.ts'
import { renderRunCharts } from '../../plugin/charts/index.ts'
import { renderDocx } from '../../plugin/exporters/docx.ts'
import { exportRun } from '../../plugin/exporters/index.ts'
import { renderMarkdown } from '../../plugin/exporters/markdown.ts'
import type { RunData } from '../../plugin/store/run-data.ts'
import { runData, stepRow } from '../store/rows.ts'

// Text a run was given, as hostile to documents as it gets: control characters (a colour code,
// a NUL, a form feed), the non-characters U+FFFE and U+FFFF, a lone surrogate, Markdown's table
// and code-span marks, and more than an Excel cell holds.

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-hostile-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const HOSTILE = 'a \x1b[31mred\x1b[0m nul\x00 ff\x0c del\x7f fffe\uFFFE ffff\uFFFF lone\uD800!'
/** HOSTILE as the documents show it. */
const SHOWN = 'a ␛[31mred␛[0m nul␀ ff␌ del␡ fffe\\uFFFE ffff\\uFFFF lone\\uD800!'

/** The characters XML 1.0 forbids, as characters or as character references. */
const NOT_XML =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the ones it finds
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|&#(?:x0*(?:[0-8bcef]|1[0-9a-f]|fff[ef]|d[89a-f][0-9a-f]{2})|0*(?:[0-8]|1[1240-9]|2\d|3[01]));/i

function hostileRun(): RunData {
  return runData(
    [
      stepRow(`probe ${HOSTILE}`, {
        status: 'failed',
        exitCode: 3,
        reason: `exit code 3: ${HOSTILE}`,
        params: { port: HOSTILE },
        envelope: { status: 'error', outputs: [`lab.${HOSTILE}`], metrics: { [`rate ${HOSTILE}`]: 3 } },
      }),
    ],
    { metadata: { test_meta: { test_id: 'LAB-1', description: `desc ${HOSTILE}`, [`field ${HOSTILE}`]: HOSTILE } } },
    {
      context: [{ key: `lab.${HOSTILE}`, value: HOSTILE, who: `probe ${HOSTILE}`, ts: null }],
      history: {
        count: 1,
        rows: () => [
          { seq: 1, key: `lab.${HOSTILE}`, who: 'probe', ts: null, step: 'probe', before: undefined, after: HOSTILE },
        ],
      },
      analysis: { summaryText: `Run failed: ${HOSTILE}`, metrics: {} },
    },
  )
}

/** Every XML part of an Office document (a zip), by name. */
async function xmlParts(file: string): Promise<Map<string, string>> {
  const zip = await JSZip.loadAsync(readFileSync(file))
  const parts = new Map<string, string>()
  for (const name of Object.keys(zip.files).filter((name) => /\.(xml|rels)$/.test(name)))
    parts.set(name, await zip.file(name)!.async('string'))
  return parts
}

test('report.docx and report.xlsx hold no character XML forbids: each control character shows as its picture, the others as \\u escapes', async () => {
  const out = join(dir, 'control')
  const outcomes = await exportRun(hostileRun(), out, ['docx', 'xlsx'])
  expect(outcomes.filter((outcome) => outcome.error)).toEqual([])
  for (const file of ['report.docx', 'report.xlsx']) {
    const parts = await xmlParts(join(out, file))
    for (const [name, xml] of parts) expect(NOT_XML.exec(xml)?.[0], `${file}: ${name}`).toBeUndefined()
    const all = [...parts.values()].join('\n')
    // The step name, its reason, the ctx key and value, the description, the metric name: each as it was, visibly.
    for (const text of [`probe ${SHOWN}`, `exit code 3: ${SHOWN}`, `lab.${SHOWN}`, `desc ${SHOWN}`, `rate ${SHOWN}`])
      expect(all, `${file}: ${text}`).toContain(text)
  }
  // The document's own title (docProps/core.xml) too.
  expect((await xmlParts(join(out, 'report.docx'))).get('docProps/core.xml')).toContain(`desc ${SHOWN}`)
})

test('the charts of a step named with control characters are drawn, their titles shown as the documents show text', async () => {
  const charts = await renderRunCharts(hostileRun(), [])
  expect(charts.problems).toEqual([])
  expect(charts.charts.map((chart) => chart.name).sort()).toEqual(
    expect.arrayContaining(['step_durations', 'step_sequence']),
  )
  expect(charts.charts.length).toBe(3)
  for (const chart of charts.charts) expect(NOT_XML.exec(chart.svg ?? '')?.[0], chart.name).toBeUndefined()
})

test('a value longer than an Excel cell holds is cut in report.xlsx, saying how long it was', async () => {
  const long = `start ${'x'.repeat(40_000)} end`
  const data: RunData = {
    ...runData([stepRow('probe', { status: 'failed', reason: long })]),
    context: [{ key: 'lab.long', value: long, who: 'probe', ts: null }],
  }
  const out = join(dir, 'long')
  expect((await exportRun(data, out, ['xlsx'])).filter((outcome) => outcome.error)).toEqual([])
  const cells = [...(await xmlParts(join(out, 'report.xlsx'))).values()]
    .flatMap((xml) => [...xml.matchAll(/<([tv])(?: [^>]*)?>([^<]*)<\/\1>/g)].map((match) => match[2]!))
    .filter((text) => text.startsWith('start '))
  // The reason (sheet Steps) and the ctx value (sheet Context).
  expect(cells).toHaveLength(2)
  for (const text of cells) {
    expect(text.length).toBeLessThanOrEqual(32_767)
    expect(text).toMatch(/^start x+… \(40,010 characters in all\)$/)
  }
})

test('report.md keeps each row of its tables in its columns, whatever a step, field, key or value holds (|, a line break, a backtick)', () => {
  const odd = 'a|b\nc `d` e\\|f'
  const data: RunData = {
    ...runData(
      [stepRow(`probe ${odd}`, { envelope: { status: 'ok', outputs: [`lab.${odd}`], metrics: { [`m ${odd}`]: 1 } } })],
      { metadata: { test_meta: { test_id: 'LAB-1', [`field ${odd}`]: odd } } },
    ),
    context: [
      { key: `lab.${odd}`, value: odd, who: `probe ${odd}`, ts: null },
      { key: 'lab.`tick`', value: 1, who: 'probe', ts: null },
    ],
  }
  const md = renderMarkdown(data)
  const lines = md.split('\n')
  // Each table row has as many cells as its header (a | escaped as \| is no cell border).
  const cellsOf = (line: string) => line.replace(/\\\\/g, '').split(/(?<!\\)\|/).length
  let header = 0
  for (const line of lines) {
    if (!line.startsWith('|')) {
      header = 0
      continue
    }
    if (header === 0) header = cellsOf(line)
    else expect(cellsOf(line), line).toBe(header)
  }
  expect(lines.filter((line) => line.startsWith('| field a')).length).toBe(1)
  // No line of the document starts inside a value: the line break stayed in its cell.
  expect(lines.filter((line) => line.startsWith('c `d`'))).toEqual([])
  // A key with backticks in a code span that holds it whole.
  expect(md).toContain('| `` lab.`tick` `` |')
  // A backslash before a bar stays one (escaped too), the bar a bar.
  expect(md).toContain('- **probe a\\|b c `d` e\\\\\\|f**: ``lab.a\\|b c `d` e\\\\\\|f``')
  // Control characters as the other documents show them.
  expect(renderMarkdown(runData([stepRow(`probe ${HOSTILE}`)]))).toContain(`probe ${SHOWN.replaceAll('\\', '\\\\')}`)
})

test('a run with more metric names than a sheet has columns still writes its workbook: the last column holds the rest', async () => {
  const metrics = Object.fromEntries(Array.from({ length: 17_000 }, (_, i) => [`port${i}.rx_bytes`, i]))
  const out = join(dir, 'columns')
  const outcomes = await exportRun(runData([stepRow('probe', { envelope: { status: 'ok', metrics } })]), out, ['xlsx'])
  expect(outcomes.map((outcome) => outcome.error)).toEqual([undefined])
  const zip = await JSZip.loadAsync(readFileSync(join(out, 'report.xlsx')))
  const names = Object.keys(zip.files).filter((name) => name.startsWith('xl/worksheets/sheet'))
  let sheet = ''
  for (const name of names) {
    const xml = await zip.file(name)!.async('string')
    if (xml.includes('>port0.rx_bytes<')) sheet = xml
  }
  // XFD is the last column a sheet has: step, status, 16,381 metrics and the column of the rest.
  expect(sheet).toContain('r="XFC1"')
  expect(sheet).not.toMatch(/r="XF[E-Z]\d|r="X[G-Z][A-Z]\d|r="[A-Z]{4}\d/)
  expect(sheet).toMatch(/r="XFD1"[^>]*>(?:<is>)?<[tv][^>]*>619 more metrics</)
  expect(sheet).toContain('port16381.rx_bytes = 16381, port16382.rx_bytes = 16382')
}, 60_000)

test('report.docx and report.md cut a text too long to read (a 100,000-character reason), saying how long it was; the analysis quotes it on one line', async () => {
  const reason = `first line\n${'word '.repeat(20_000)}`
  const failed = runData([stepRow('probe', { status: 'failed', exitCode: 1, reason })])
  const data: RunData = { ...failed, analysis: analyzeRun(failed) }
  const [line] = data.analysis!.summaryText.split('\n').filter((text) => text.startsWith('Step probe failed'))
  expect(line).toMatch(/^Step probe failed \(exit 1\): first line word word .*… \(100,011 characters in all\)\.$/)
  expect(line!.length).toBeLessThan(600)

  const md = renderMarkdown(data)
  expect(md.length).toBeLessThan(10_000)
  expect(md).toContain('… (100,011 characters in all) |')

  const xml = await (await JSZip.loadAsync(await renderDocx(data))).file('word/document.xml')!.async('string')
  const texts = [...xml.matchAll(/<w:t(?: [^>]*)?>([^<]*)<\/w:t>/g)].map((match) => match[1]!)
  // The steps table's cell (a table row never splits over pages: it must fit one), the step's own section, the analysis.
  const cut = texts.filter((text) => text.includes('(100,011 characters in all)'))
  expect(cut.map((text) => text.length <= 500)).toEqual([true, false, false])
  expect(cut[1]!.length).toBe(4000)
  expect(xml.length).toBeLessThan(100_000)
})
