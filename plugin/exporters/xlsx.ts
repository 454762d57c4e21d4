import { createRequire } from 'node:module'
import type ExcelJS from 'exceljs'
import type { JsonValue } from '../context/json-value.ts'
import { numericMetrics, type RunData, type StepRow } from '../store/run-data.ts'
import {
  aiSummaryBlock,
  compactJson,
  describeAttempts,
  formatMs,
  reportTitle,
  runDurationMs,
  STATUS_COLORS,
  statusCounts,
  titleFields,
} from './format.ts'

// exceljs's main module loads its readers, CSV and every model too (~0.6 s); the streaming
// writer alone, all this file uses, loads in about a third of that.
const WorkbookWriter = createRequire(import.meta.url)(
  'exceljs/lib/stream/xlsx/workbook-writer.js',
) as typeof ExcelJS.stream.xlsx.WorkbookWriter

/** Excel keeps at most 32,767 characters in a cell. */
const CELL_MAX = 32_000
/** ...and 1,048,576 rows in a sheet. */
const SHEET_MAX_ROWS = 1_048_576

/**
 * The run as an Excel workbook: Summary, Steps, Context, History, Metrics. Written with
 * exceljs's streaming writer, row by row straight to `file`: a run with 10k ctx writes is
 * never held in memory as a workbook.
 */
export async function writeXlsx(data: RunData, file: string): Promise<void> {
  const workbook = new WorkbookWriter({ filename: file, useStyles: true, useSharedStrings: false })
  workbook.creator = 'vitest-recipes'
  workbook.created = new Date()

  const summary = addTable(workbook, 'Summary', [
    ['field', 22],
    ['value', 70],
  ])
  commitRow(summary.addRow({ field: 'title', value: reportTitle(data) }))
  for (const [field, value] of titleFields(data)) commitRow(summary.addRow({ field, value }))
  commitRow(summary.addRow({ field: 'steps', value: data.steps.length }))
  for (const [status, n] of statusCounts(data)) {
    const row = summary.addRow({ field: `steps ${status}`, value: n })
    fill(row.getCell('field'), status)
    commitRow(row)
  }
  commitRow(
    summary.addRow({ field: 'step time', value: formatMs(data.steps.reduce((sum, step) => sum + step.durationMs, 0)) }),
  )
  const duration = runDurationMs(data)
  if (duration !== undefined) commitRow(summary.addRow({ field: 'duration (ms)', value: duration }))
  if (data.analysis) {
    const row = summary.addRow({ field: 'analysis', value: cell(data.analysis.summaryText) })
    row.getCell('value').alignment = { wrapText: true, vertical: 'top' }
    commitRow(row)
    if (data.analysis.ai) {
      const ai = aiSummaryBlock(data.analysis.ai)
      const aiRow = summary.addRow({ field: ai.title, value: cell(ai.text) })
      aiRow.getCell('field').alignment = { wrapText: true, vertical: 'top' }
      aiRow.getCell('value').alignment = { wrapText: true, vertical: 'top' }
      commitRow(aiRow)
    }
  }
  summary.commit()

  const steps = addTable(workbook, 'Steps', [
    ['idx', 6],
    ['step', 28],
    ['status', 11],
    ['duration_ms', 13, 'durationMs'],
    ['cpu_ms', 11, 'cpuMs'],
    ['peak_rss_bytes', 16, 'peakRssBytes'],
    ['exit_code', 10, 'exitCode'],
    ['attempts', 9],
    ['attempt_log', 40, 'attemptLog'],
    ['reason', 60],
    ['outputs', 40],
    ['params', 40],
    ['log', 40, 'logPath'],
  ])
  for (const step of data.steps) {
    const row = steps.addRow({
      ...step,
      durationMs: round(step.durationMs),
      cpuMs: round(step.cpuMs),
      reason: cell(step.reason ?? ''),
      attemptLog: cell(step.attemptLog.length > 1 ? describeAttempts(step) : ''),
      outputs: cell(compactJson((step.envelope?.outputs as JsonValue | undefined) ?? [])),
      params: cell(compactJson(step.params)),
      logPath: step.logPath ?? '',
    })
    fill(row.getCell('status'), step.status)
    commitRow(row)
  }
  steps.commit()

  const context = addTable(workbook, 'Context', [
    ['key', 32],
    ['value', 70],
    ['who', 24],
    ['ts', 26],
  ])
  for (const row of data.context) commitRow(context.addRow({ ...row, value: cell(compactJson(row.value, CELL_MAX)) }))
  context.commit()

  const history = addTable(workbook, 'History', [
    ['seq', 7],
    ['step', 24],
    ['key', 32],
    ['who', 24],
    ['ts', 26],
    ['before', 40],
    ['after', 40],
  ])
  let written = 0
  for (const row of data.history.rows()) {
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
        before: cell(compactJson(row.before, CELL_MAX)),
        after: cell(compactJson(row.after, CELL_MAX)),
      }),
    )
  }
  history.commit()

  writeMetrics(workbook, data.steps)
  await workbook.commit()
}

/** One row per step that reported numeric metrics, one column per metric name. */
function writeMetrics(workbook: ExcelJS.stream.xlsx.WorkbookWriter, steps: readonly StepRow[]): void {
  const rows = steps
    .map((step) => [step, numericMetrics(step)] as const)
    .filter(([, metrics]) => Object.keys(metrics).length > 0)
  const names = [...new Set(rows.flatMap(([, metrics]) => Object.keys(metrics)))]
  const sheet = addTable(workbook, 'Metrics', [
    ['step', 28],
    ['status', 11],
    ...names.map((name): Column => [name, Math.max(12, name.length + 2), `m:${name}`]),
  ])
  for (const [step, metrics] of rows) {
    const row = sheet.addRow({
      step: step.step,
      status: step.status,
      ...Object.fromEntries(Object.entries(metrics).map(([name, value]) => [`m:${name}`, value])),
    })
    fill(row.getCell('status'), step.status)
    commitRow(row)
  }
  sheet.commit()
}

/** [header, width, row key (default: the header)] */
type Column = [string, number, string?]

/** A sheet whose first row is a bold, frozen header with an autofilter over its columns. */
function addTable(workbook: ExcelJS.stream.xlsx.WorkbookWriter, name: string, columns: Column[]): ExcelJS.Worksheet {
  const sheet = workbook.addWorksheet(name, { views: [{ state: 'frozen', ySplit: 1 }] })
  sheet.columns = columns.map(([header, width, key]) => ({ header, key: key ?? header, width }))
  sheet.autoFilter = { from: { row: 1, column: 1 }, to: { row: 1, column: columns.length } }
  sheet.getRow(1).font = { bold: true }
  return sheet
}

// exceljs gives each cell a style object of its own and, as it writes the row, looks every one
// up by its XML (a third of a big workbook's time); a style object shared by cells that look
// alike is looked up once per workbook. Numbers and text get apart: their styles differ (numFmt).
const PLAIN_NUMBER: Partial<ExcelJS.Style> = {}
const PLAIN_TEXT: Partial<ExcelJS.Style> = {}
const STATUS_FILLS = new Map(
  Object.entries(STATUS_COLORS).map(([status, color]): [string, Partial<ExcelJS.Style>] => [
    status,
    { fill: { type: 'pattern', pattern: 'solid', fgColor: { argb: `FF${color}` } } },
  ]),
)

/** Writes the row out, its unstyled cells sharing one style object. */
function commitRow(row: ExcelJS.Row): void {
  row.eachCell({ includeEmpty: true }, (target) => {
    if (Object.keys(target.style).length === 0)
      target.style = typeof target.value === 'number' ? PLAIN_NUMBER : PLAIN_TEXT
  })
  row.commit()
}

function fill(target: ExcelJS.Cell, status: string): void {
  const style = STATUS_FILLS.get(status)
  if (style) target.style = style
}

function cell(text: string): string {
  return text.length > CELL_MAX ? `${text.slice(0, CELL_MAX - 1)}…` : text
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
