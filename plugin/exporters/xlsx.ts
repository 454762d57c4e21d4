import { formatCount } from '../format/numbers.ts'
import { createRequire } from 'node:module'
import type ExcelJS from 'exceljs'
import type { DocumentCharts } from '../charts/index.ts'
import type { JsonValue } from '../context/json-value.ts'
import { numericMetrics, type RunData, type StepRow } from '../store/run-data.ts'
import { describeAttempts, formatMs, runDurationMs, STATUS_COLORS, statusCounts } from '../format/run-format.ts'
import { cutText, visibleValues } from '../format/document-text.ts'
import { aiSummaryBlock, compactJson, readableRun, reportTitle, titleFields } from './format.ts'
import { SheetPictures } from './xlsx-drawing.ts'
import { cellLines, fitRowHeight, pagePixels, printed } from './xlsx-print.ts'

// exceljs's main module loads its readers, CSV and every model too (~0.6 s); the streaming
// writer alone, all this file uses, loads in about a third of that.
const WorkbookWriter = createRequire(import.meta.url)(
  'exceljs/lib/stream/xlsx/workbook-writer.js',
) as typeof ExcelJS.stream.xlsx.WorkbookWriter

/** Excel keeps at most 32,767 characters in a cell. */
const CELL_MAX = 32_000
/** ...and 1,048,576 rows and 16,384 columns in a sheet. */
const SHEET_MAX_ROWS = 1_048_576
const SHEET_MAX_COLUMNS = 16_384

/**
 * The run as an Excel workbook: Summary, Steps, Context, History, Metrics, Charts. Written with
 * exceljs's streaming writer, row by row straight to `file`: a run with 10k ctx writes is
 * never held in memory as a workbook. The charts are awaited last, once the other sheets are written.
 */
export async function writeXlsx(
  run: RunData,
  file: string,
  charts: Promise<DocumentCharts | undefined> = Promise.resolve(undefined),
): Promise<void> {
  // exceljs drops the characters XML cannot hold (and writes U+FFFE as it is): the run's text as documents show it.
  const data = readableRun(run)
  const workbook = new WorkbookWriter({ filename: file, useStyles: true, useSharedStrings: false })
  workbook.creator = 'vitest-recipes'
  workbook.created = new Date()

  const title = reportTitle(data)
  const summary = addTable(workbook, 'Summary', title, [
    ['field', 22],
    ['value', 70, 'value', WRAP],
  ])
  commitRow(summary.addRow({ field: 'title', value: title }))
  for (const [field, value] of titleFields(data)) commitRow(summary.addRow({ field, value }))
  commitRow(summary.addRow({ field: 'steps', value: data.steps.length }))
  for (const [status, n] of statusCounts(data)) {
    const row = summary.addRow({ field: `steps ${status}`, value: n })
    fill(row.getCell('field'), status)
    commitRow(row)
  }
  commitRow(
    summary.addRow({
      field: 'sum of step times',
      value: formatMs(data.steps.reduce((sum, step) => sum + step.durationMs, 0)),
    }),
  )
  const duration = runDurationMs(data)
  if (duration !== undefined) commitRow(summary.addRow({ field: 'duration (ms)', value: duration }))
  if (data.analysis) {
    const row = summary.addRow({ field: 'analysis', value: data.analysis.summaryText })
    row.getCell('value').alignment = { wrapText: true, vertical: 'top' }
    commitRow(row)
    if (data.analysis.ai) {
      const ai = aiSummaryBlock(data.analysis.ai)
      const aiRow = summary.addRow({ field: ai.title, value: ai.text })
      aiRow.getCell('field').alignment = { wrapText: true, vertical: 'top' }
      aiRow.getCell('value').alignment = { wrapText: true, vertical: 'top' }
      commitRow(aiRow)
    }
  }
  summary.commit()

  const steps = addTable(workbook, 'Steps', title, [
    ['idx', 6],
    ['step', fitted(data.steps.map((step) => step.step))],
    ['status', 11],
    ['duration_ms', 13, 'durationMs'],
    ['cpu_ms', 11, 'cpuMs'],
    ['peak_rss_bytes', 16, 'peakRssBytes'],
    ['exit_code', 10, 'exitCode'],
    ['attempts', 9],
    ['attempt_log', 30, 'attemptLog', WRAP],
    ['reason', 44, 'reason', WRAP],
    ['outputs', 30, 'outputs', WRAP],
    ['params', 30, 'params', WRAP],
    ['log', 30, 'logPath', WRAP],
  ])
  for (const step of data.steps) {
    const row = steps.addRow({
      ...step,
      durationMs: round(step.durationMs),
      cpuMs: round(step.cpuMs),
      reason: step.reason ?? '',
      attemptLog: step.attemptLog.length > 1 ? describeAttempts(step) : '',
      outputs: compactJson((step.envelope?.outputs as JsonValue | undefined) ?? []),
      params: compactJson(step.params),
      logPath: step.logPath ?? '',
    })
    fill(row.getCell('status'), step.status)
    commitRow(row)
  }
  steps.commit()

  const context = addTable(workbook, 'Context', title, [
    ['key', fitted(data.context.map((row) => row.key))],
    ['value', 60, 'value', WRAP],
    ['who', fitted(data.context.map((row) => row.who ?? ''))],
    ['ts', 26],
  ])
  for (const row of data.context) commitRow(context.addRow({ ...row, value: compactJson(row.value, CELL_MAX) }))
  context.commit()

  const history = addTable(workbook, 'History', title, [
    ['seq', 7],
    ['step', fitted(data.steps.map((step) => step.step))],
    [
      'key',
      fitted(
        data.context.map((row) => row.key),
        32,
      ),
    ],
    ['who', fitted(data.steps.map((step) => step.step))],
    ['ts', 26],
    ['before', 36, 'before', WRAP],
    ['after', 36, 'after', WRAP],
  ])
  let written = 0
  for await (const row of data.history.rows()) {
    // A sheet holds 1,048,576 rows: say where the rest is rather than fail the whole workbook.
    if (++written > SHEET_MAX_ROWS - 2) {
      commitRow(
        history.addRow({
          key: `… ${data.history.count - written + 1} more ctx writes: see the run store (context_history) or report.json`,
        }),
      )
      break
    }
    commitRow(
      history.addRow({
        ...row,
        before: compactJson(row.before, CELL_MAX),
        after: compactJson(row.after, CELL_MAX),
      }),
    )
  }
  history.commit()

  writeMetrics(workbook, data.steps, title)
  const drawn = await charts
  if (drawn) writeCharts(workbook, visibleValues(drawn), title)
  await workbook.commit()
}

/** Where the streaming writer keeps a sheet's page breaks: above the rows after row `id` (1-based), written with the sheet. */
interface SheetPageBreaks {
  rowBreaks: { id: number; max: number; man: number }[]
}

/** exceljs's default row height, 15 pt, in pixels. */
const ROW_PIXELS = 20

/**
 * Sheet Charts: each chart's caption, then its picture below it (at its size on a page), and
 * a line for each chart that could not be drawn, saying why.
 */
function writeCharts(workbook: ExcelJS.stream.xlsx.WorkbookWriter, charts: DocumentCharts, title: string): void {
  // Column A as wide as the widest picture (a character is about 7 pixels), the captions wrapped in it.
  const width = Math.max(80, ...charts.charts.map((chart) => Math.ceil(chart.width / chart.scale / 7)))
  const sheet = workbook.addWorksheet('Charts', printed('Charts', title, [width]))
  sheet.columns = [{ key: 'text', width, style: { alignment: WRAP } }]
  const pictures = new SheetPictures(workbook, sheet)
  let next = 1
  // A chart that would not fit in what is left of a printed page starts the next one: a picture
  // is cut over two pages only when it is taller than a page.
  const page = pagePixels([width])
  const pageBreaks = (sheet as unknown as SheetPageBreaks).rowBreaks
  let used = 0
  charts.charts.forEach((chart, i) => {
    const height = Math.round(chart.height / chart.scale)
    const rows = Math.ceil(height / ROW_PIXELS) + 2
    if (used > 0 && used + rows * ROW_PIXELS > page) {
      pageBreaks.push({ id: next - 1, max: 16383, man: 1 })
      used = 0
    }
    used += rows * ROW_PIXELS
    const caption = sheet.getRow(next)
    caption.getCell(1).value = `Figure ${i + 1}. ${chart.title}${chart.note ? ` (${chart.note})` : ''}`
    caption.getCell(1).font = { bold: true }
    commitRow(caption)
    pictures.add(chart.png, next, Math.round(chart.width / chart.scale), height, chart.name, chart.title)
    next += rows
  })
  for (const line of [
    ...charts.problems.map((problem) => `${problem.title} could not be drawn: ${problem.error}`),
    ...charts.notes,
  ]) {
    const row = sheet.getRow(next++)
    row.getCell(1).value = line
    commitRow(row)
  }
  pictures.write()
  sheet.commit()
}

/**
 * One row per step that reported numeric metrics, one column per metric name; past the columns
 * a sheet has, a last column holds the other metrics of each row as text (`name = value, …`).
 */
function writeMetrics(workbook: ExcelJS.stream.xlsx.WorkbookWriter, steps: readonly StepRow[], title: string): void {
  const rows = steps
    .map((step) => [step, numericMetrics(step)] as const)
    .filter(([, metrics]) => Object.keys(metrics).length > 0)
  const all = [...new Set(rows.flatMap(([, metrics]) => Object.keys(metrics)))]
  // Step, status and, when needed, the column of the rest: Excel refuses a cell past column 16,384 (XFD).
  const names = all.length > SHEET_MAX_COLUMNS - 2 ? all.slice(0, SHEET_MAX_COLUMNS - 3) : all
  const rest = all.length - names.length
  const shown = new Set(names)
  const sheet = addTable(workbook, 'Metrics', title, [
    ['step', fitted(rows.map(([step]) => step.step))],
    ['status', 11],
    ...names.map((name): Column => [name, fitted([name]), `m:${name}`]),
    ...(rest > 0 ? [[`${formatCount(rest)} more metrics`, 60, 'rest', WRAP] as Column] : []),
  ])
  for (const [step, metrics] of rows) {
    const entries = Object.entries(metrics)
    const row = sheet.addRow({
      step: step.step,
      status: step.status,
      ...Object.fromEntries(entries.filter(([name]) => shown.has(name)).map(([name, value]) => [`m:${name}`, value])),
      ...(rest > 0
        ? {
            rest: entries
              .filter(([name]) => !shown.has(name))
              .map(([name, value]) => `${name} = ${value}`)
              .join(', '),
          }
        : {}),
    })
    fill(row.getCell('status'), step.status)
    commitRow(row)
  }
  sheet.commit()
}

/** [header, width in characters, row key (default: the header), the column's alignment (WRAP: its text wraps)] */
type Column = [string, number, string?, Partial<ExcelJS.Alignment>?]

/** The alignment of a column of free text: wrapped in its cell, so the whole of it prints, at the top of its row. */
const WRAP: Partial<ExcelJS.Alignment> = { wrapText: true, vertical: 'top' }

/**
 * A sheet whose first row is a bold header, frozen under the panes, with an autofilter over its
 * columns; printed one page wide with that header row on every page (see printed).
 */
function addTable(
  workbook: ExcelJS.stream.xlsx.WorkbookWriter,
  name: string,
  title: string,
  columns: Column[],
): ExcelJS.Worksheet {
  const sheet = workbook.addWorksheet(name, {
    views: [{ state: 'frozen', ySplit: 1 }],
    ...printed(
      name,
      title,
      columns.map(([, width]) => width),
    ),
  })
  sheet.columns = columns.map(([header, width, key, alignment]) => ({
    header: cutText(header, CELL_MAX),
    key: key ?? header,
    width,
    ...(alignment ? { style: { alignment } } : {}),
  }))
  sheet.autoFilter = { from: { row: 1, column: 1 }, to: { row: 1, column: columns.length } }
  sheet.getRow(1).font = { bold: true }
  return sheet
}

/** A column's width, in characters, that holds its longest text (and its header), from `min` up to 60. */
function fitted(texts: readonly string[], min = 12): number {
  let longest = 0
  for (const text of texts) longest = Math.max(longest, text.length)
  return Math.min(60, Math.max(min, longest + 2))
}

// exceljs gives each cell a style object of its own and, as it writes the row, looks every one
// up by its XML (a third of a big workbook's time); a style object shared by cells that look
// alike is looked up once per workbook. Numbers and text get apart: their styles differ (numFmt).
// Every cell sits at the top of its row, level with the first line of the wrapped text beside it.
const TOP: Partial<ExcelJS.Alignment> = { vertical: 'top' }
const PLAIN_NUMBER: Partial<ExcelJS.Style> = { alignment: TOP }
const PLAIN_TEXT: Partial<ExcelJS.Style> = { alignment: TOP }
const WRAPPED_NUMBER: Partial<ExcelJS.Style> = { alignment: WRAP }
const WRAPPED_TEXT: Partial<ExcelJS.Style> = { alignment: WRAP }
const STATUS_FILLS = new Map(
  Object.entries(STATUS_COLORS).map(([status, color]): [string, Partial<ExcelJS.Style>] => [
    status,
    { fill: { type: 'pattern', pattern: 'solid', fgColor: { argb: `FF${color}` } }, alignment: TOP },
  ]),
)

/**
 * Writes the row out, its unstyled cells sharing one style object, as tall as its wrapped text
 * needs; a text longer than a cell holds is cut, saying how long it was (every row but the header passes here).
 */
function commitRow(row: ExcelJS.Row): void {
  let lines = 1
  row.eachCell({ includeEmpty: true }, (target) => {
    if (typeof target.value === 'string' && target.value.length > CELL_MAX)
      target.value = cutText(target.value, CELL_MAX)
    const keys = Object.keys(target.style)
    if (keys.length === 0) target.style = typeof target.value === 'number' ? PLAIN_NUMBER : PLAIN_TEXT
    // A cell of a wrapped column gets a copy of the column's style: share one instead.
    else if (keys.length === 1 && target.style.alignment === WRAP)
      target.style = typeof target.value === 'number' ? WRAPPED_NUMBER : WRAPPED_TEXT
    lines = Math.max(lines, cellLines(row, target))
  })
  fitRowHeight(row, lines)
  row.commit()
}

function fill(target: ExcelJS.Cell, status: string): void {
  const style = STATUS_FILLS.get(status)
  if (style) target.style = style
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
