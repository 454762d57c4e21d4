import { officeToPdf } from '../office-pdf.ts'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import JSZip from 'jszip'
import { renderDocx } from '../../plugin/exporters/docx.ts'
import { exportRun } from '../../plugin/exporters/index.ts'
import { writeXlsx } from '../../plugin/exporters/xlsx.ts'
import type { RunData, StepRow, StepStatus } from '../../plugin/store/run-data.ts'
import { stepRow } from '../store/rows.ts'

// The documents as a person prints them: LibreOffice turns each into a PDF (one soffice
// call for all of them), and poppler reads the pages back.

/** LibreOffice and poppler-utils (pdftotext, pdfinfo); CI installs both (.ci/run). */
const hasTools = () =>
  spawnSync('soffice', ['--version'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('pdftotext', ['-v'], { stdio: 'ignore' }).status === 0

const STATUSES: StepStatus[] = ['passed', 'failed', 'blocked']

/** A run of `count` steps with long names, long reasons and every kind of status; step 10 and on have two-digit numbers. */
function printRun(runId: string, count: number, nameLength: number): RunData {
  const steps = Array.from({ length: count }, (_, i): StepRow => {
    const idx = i + 1
    const status = STATUSES[i % STATUSES.length]!
    const name = `${'verify_firmware_signature_on_every_port_after_reboot'.slice(0, nameLength - 4).replace(/_$/, '')}_${String(idx).padStart(3, '0')}`
    return stepRow(name, {
      idx,
      status,
      durationMs: 1234.5 * idx,
      exitCode: status === 'failed' ? 17 : status === 'blocked' ? null : 0,
      reason:
        status === 'passed'
          ? null
          : `the switch under test answered with a checksum that does not match the signed image for port ${idx}, so the step ${status} (see the log) endmark${idx}`,
      params: { port: idx, mode: 'strict', expected: 'sha256:0123456789abcdef' },
      // A few steps with metrics: each draws a chart, and the charts are not what is tested here.
      envelope: {
        status: 'ok',
        outputs: [`ports.p${idx}.signature_v1`],
        ...(idx <= 3 ? { metrics: { latency_ms: idx / 3 } } : {}),
      },
      logPath: `Logs/${name}.log`,
    })
  })
  return {
    run: {
      runId,
      testId: 'LAB-PRINT',
      recipe: 'recipes/print.yaml',
      startTime: '2026-01-01T00:00:00.000Z',
      endTime: '2026-01-01T01:00:00.000Z',
      status: 'failed',
      host: 'lab-host',
      vitestVersion: '4.1.0',
      metadata: { test_meta: { test_id: 'LAB-PRINT', description: 'Printing the reports', tester: 'ann' } },
    },
    steps,
    context: steps.map((step) => ({
      key: `ports.p${step.idx}.signature_v1`,
      value: { ok: step.status === 'passed', sha: 'sha256:0123456789abcdef0123456789abcdef', port: step.idx },
      who: step.step,
      ts: '2026-01-01T00:00:00.000Z',
    })),
    history: { count: 0, rows: () => [] },
    analysis: undefined,
  }
}

/** The text of each page of a PDF, laid out as printed. */
function pages(pdf: string): string[] {
  const result = spawnSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout.split('\f').slice(0, -1)
}

/** Each page's size in points and the right edge of its rightmost word (pdftotext -bbox). */
function pageExtents(pdf: string): { width: number; height: number; right: number }[] {
  const result = spawnSync('pdftotext', ['-bbox', pdf, '-'], { encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout
    .split('<page ')
    .slice(1)
    .map((page) => ({
      width: Number(/width="([\d.]+)"/.exec(page)![1]),
      height: Number(/height="([\d.]+)"/.exec(page)![1]),
      right: Math.max(0, ...[...page.matchAll(/xMax="([\d.]+)"/g)].map((match) => Number(match[1]))),
    }))
}

const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

describe.skipIf(!hasTools() && !process.env.CI)('printing the reports (LibreOffice to PDF)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-print-'))
  // KEEP_PRINT=1 keeps the documents and their PDFs to look at, and says where.
  afterAll(() => (process.env.KEEP_PRINT ? console.log(dir) : rmSync(dir, { recursive: true, force: true })))
  const short = printRun('short', 12, 40)
  const long = printRun('long', 100, 30)
  /** The PDF of a run's document (`run`/report.`format`). */
  const pdf = (run: string, format: string) => join(dir, 'pdf', `${run}-${format}.pdf`)

  beforeAll(async () => {
    for (const data of [short, long]) {
      const outcomes = await exportRun(data, join(dir, data.run.runId), ['docx', 'xlsx'])
      expect(outcomes.filter((outcome) => outcome.error)).toEqual([])
    }
    // One conversion for every document: soffice takes seconds to start.
    mkdirSync(join(dir, 'in'))
    const inputs = [
      ['short', 'docx'],
      ['long', 'docx'],
      ['long', 'xlsx'],
    ].map(([run, format]) => {
      const file = join(dir, 'in', `${run}-${format}.${format}`)
      copyFileSync(join(dir, run!, `report.${format}`), file)
      return file
    })
    officeToPdf(inputs, join(dir, 'pdf'))
  }, 240_000)

  /** A row of the Word summary table as printed: number, name and status whole, on one line. */
  const summaryRow = (step: StepRow) =>
    new RegExp(`^\\s*${step.idx}\\s+${literal(step.step)}\\s+${step.status}\\s+\\d`, 'm')
  const summaryHeader = /^\s*#\s+step\s+status\s+duration\s+exit\s+reason\s*$/m

  test('report.docx: no number, status, name or header word of the step table is broken inside its cell', () => {
    const text = pages(pdf('short', 'docx')).join('\n')
    expect(text).toMatch(summaryHeader)
    for (const step of short.steps) expect(text).toMatch(summaryRow(step))
    // The reasons wrap at spaces, whole words: their last word is printed whole.
    for (const step of short.steps.filter((step) => step.reason)) expect(text).toContain(`endmark${step.idx}`)
  })

  test('report.docx: every page holds its text inside the page, tables included', () => {
    for (const run of ['short', 'long']) {
      for (const [i, page] of pageExtents(pdf(run, 'docx')).entries())
        expect(page.right, `${run} page ${i + 1} of ${page.width} pt`).toBeLessThanOrEqual(page.width - 18)
    }
  })

  test('report.docx: a table running over pages repeats its header row on each of them', () => {
    const printed = pages(pdf('long', 'docx'))
    const withRows = printed
      .map((text, i) => ({ i, text }))
      .filter(({ text }) => long.steps.some((step) => summaryRow(step).test(text)))
    expect(withRows.length).toBeGreaterThan(1)
    for (const { i, text } of withRows) expect(text, `page ${i + 1}`).toMatch(summaryHeader)
    for (const step of long.steps) expect(printed.join('\n')).toMatch(summaryRow(step))
  })

  test('report.xlsx: each sheet prints one page wide, its header row on every page, in few pages', () => {
    const printed = pages(pdf('long', 'xlsx'))
    const headers: Record<string, string[]> = {
      Steps: [
        'idx',
        'step',
        'status',
        'duration_ms',
        'cpu_ms',
        'peak_rss_bytes',
        'exit_code',
        'attempts',
        'attempt_log',
        'reason',
        'outputs',
        'params',
        'log',
      ],
      Context: ['key', 'value', 'who', 'ts'],
      History: ['seq', 'step', 'key', 'who', 'ts', 'before', 'after'],
    }
    const bySheet = new Map<string, string[]>()
    for (const text of printed) {
      // Each printed page says which sheet it is, in its header.
      const sheet =
        /\S.*$/m
          .exec(text)?.[0]
          .trim()
          .split(/\s{2,}/)
          .at(-1) ?? ''
      bySheet.set(sheet, [...(bySheet.get(sheet) ?? []), text])
    }
    expect([...bySheet.keys()]).toEqual(expect.arrayContaining(['Summary', 'Steps', 'Context', 'History', 'Metrics']))
    for (const [sheet, names] of Object.entries(headers))
      for (const [i, text] of (bySheet.get(sheet) ?? []).entries()) {
        const words = new Set(text.split(/\s+/))
        expect(
          names.filter((name) => !words.has(name)),
          `${sheet} page ${i + 1}`,
        ).toEqual([])
      }
    // 100 steps of 13 columns: a few pages, not one per column group; every row printed.
    const steps = bySheet.get('Steps')!.join('\n')
    expect(bySheet.get('Steps')!.length).toBeLessThanOrEqual(5)
    for (const step of long.steps)
      expect(steps).toMatch(new RegExp(`^\\s*${step.idx}\\s+${step.step}\\s+${step.status}\\s`, 'm'))
    // ... and the long reasons wrapped in their cells, whole (endmark words are their last).
    for (const step of long.steps.filter((step) => step.reason)) expect(steps).toContain(`endmark${step.idx}`)
    // The sheets of tables (not the charts, a picture a page) print in a few pages each.
    expect(['Summary', 'Steps', 'Context', 'History', 'Metrics'].map((sheet) => bySheet.get(sheet)!.length)).toEqual([
      1,
      expect.toBeOneOf([2, 3, 4, 5]),
      expect.toBeOneOf([2, 3, 4, 5]),
      1,
      1,
    ])
  })
})

/** Each table of a Word document: its columns' widths and the width between the margins of its section's page, in twips. */
async function docxTables(docx: Buffer): Promise<{ columns: number[]; room: number; landscape: boolean }[]> {
  const xml = await new JSZip().loadAsync(docx).then((zip) => zip.file('word/document.xml')!.async('string'))
  const tables: { columns: number[]; room: number; landscape: boolean }[] = []
  let pending: number[][] = []
  // A section's properties close it: those of the last section end the body, the others end its last paragraph.
  for (const part of xml.matchAll(/<w:tblGrid>(.*?)<\/w:tblGrid>|<w:sectPr[ >](.*?)<\/w:sectPr>/g)) {
    if (part[1] !== undefined) pending.push([...part[1].matchAll(/w:w="(\d+)"/g)].map((match) => Number(match[1])))
    else {
      const size = /<w:pgSz ([^>]*)\/>/.exec(part[2]!)![1]!
      const margin = /<w:pgMar ([^>]*)\/>/.exec(part[2]!)![1]!
      const attribute = (text: string, name: string) => Number(new RegExp(`w:${name}="(\\d+)"`).exec(text)![1])
      const room = attribute(size, 'w') - attribute(margin, 'left') - attribute(margin, 'right')
      const landscape = /w:orient="landscape"/.test(size)
      tables.push(...pending.map((columns) => ({ columns, room, landscape })))
      pending = []
    }
  }
  expect(pending).toEqual([])
  return tables
}

describe('report.docx tables fit their page', () => {
  const sum = (values: number[]) => values.reduce((total, value) => total + value, 0)

  test('a small run: every table upright and full width', async () => {
    const tables = await docxTables(await renderDocx(printRun('small', 3, 12)))
    expect(tables.length).toBe(3)
    for (const table of tables) {
      expect(table.landscape).toBe(false)
      expect(sum(table.columns)).toBeLessThanOrEqual(table.room)
      expect(sum(table.columns)).toBeGreaterThan(table.room - 20)
    }
  })

  test('a run without steps or ctx still has its tables, upright', async () => {
    const data = printRun('empty', 0, 12)
    const tables = await docxTables(await renderDocx({ ...data, context: [] }))
    expect(tables.map((table) => table.landscape)).toEqual([false, false])
  })

  test('names too long for an upright page lay their table across the page; longer than that, the table still fits', async () => {
    for (const length of [60, 400]) {
      const data = printRun('wide', 4, 12)
      data.steps[1]!.step = 'x'.repeat(length)
      const [title, summary, context] = await docxTables(await renderDocx(data))
      expect([title!.landscape, summary!.landscape, context!.landscape]).toEqual([false, true, false])
      for (const table of [title!, summary!, context!]) expect(sum(table.columns)).toBeLessThanOrEqual(table.room)
      // The other columns keep room for their text (as wide as in a table of short names): the long name gives way.
      const [short] = (await docxTables(await renderDocx(printRun('narrow', 4, 12)))).slice(1)
      summary!.columns.forEach((width, i) => {
        if (i !== 1) expect(width, `column ${i + 1}`).toBeGreaterThanOrEqual(Math.min(short!.columns[i]!, 2000))
      })
    }
  })
})

test('report.xlsx: each table sheet is frozen under its header row, prints it on every page, one page wide; wide sheets across the page', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-print-xlsx-'))
  try {
    const file = join(dir, 'report.xlsx')
    await writeXlsx(printRun('xml', 5, 30), file)
    const zip = await new JSZip().loadAsync(readFileSync(file))
    const workbook = await zip.file('xl/workbook.xml')!.async('string')
    const sheets = [...workbook.matchAll(/<sheet [^>]*name="([^"]+)"/g)].map((match) => match[1]!)
    expect(sheets).toEqual(['Summary', 'Steps', 'Context', 'History', 'Metrics'])
    for (const [i, name] of sheets.entries()) {
      const xml = await zip.file(`xl/worksheets/sheet${i + 1}.xml`)!.async('string')
      expect(xml, name).toMatch(/<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"\/>/)
      expect(xml, name).toMatch(/<pageSetUpPr fitToPage="1"\/>/)
      const setup = /<pageSetup ([^>]*)\/>/.exec(xml)![1]!
      expect(setup, name).toMatch(/fitToWidth="1"/)
      expect(setup, name).toMatch(/fitToHeight="0"/)
      expect(/orientation="(\w+)"/.exec(setup)![1], name).toBe(
        name === 'Summary' || name === 'Metrics' ? 'portrait' : 'landscape',
      )
      expect(workbook, name).toContain(
        `<definedName name="_xlnm.Print_Titles" localSheetId="${i}">&apos;${name}&apos;!$1:$1</definedName>`,
      )
      expect(xml, name).toMatch(/<oddHeader>&amp;LLAB-PRINT — Printing the reports&amp;R&amp;A<\/oddHeader>/)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
