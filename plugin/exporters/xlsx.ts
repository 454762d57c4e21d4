import { createRequire } from 'node:module'
import type ExcelJS from 'exceljs'
import type { JsonValue } from '../context/json-value.ts'
import { numericMetrics, type RunData, type StepRow } from '../store/run-data.ts'
import {
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
  summary.addRow({ field: 'title', value: reportTitle(data) }).commit()
  for (const [field, value] of titleFields(data)) summary.addRow({ field, value }).commit()
  summary.addRow({ field: 'steps', value: data.steps.length }).commit()
  for (const [status, n] of statusCounts(data)) {
    const row = summary.addRow({ field: `steps ${status}`, value: n })
    fill(row.getCell('field'), status)
    row.commit()
  }
  summary
    .addRow({ field: 'step time', value: formatMs(data.steps.reduce((sum, step) => sum + step.durationMs, 0)) })
    .commit()
  const duration = runDurationMs(data)
  if (duration !== undefined) summary.addRow({ field: 'duration (ms)', value: duration }).commit()
  if (data.analysis) {
    const row = summary.addRow({ field: 'analysis', value: cell(data.analysis.summaryText) })
    row.getCell('value').alignment = { wrapText: true, vertical: 'top' }
    row.commit()
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
    row.commit()
  }
  steps.commit()

  const context = addTable(workbook, 'Context', [
    ['key', 32],
    ['value', 70],
    ['who', 24],
    ['ts', 26],
  ])
  for (const row of data.context) context.addRow({ ...row, value: cell(compactJson(row.value, CELL_MAX)) }).commit()
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
      history
        .addRow({
          key: `… ${data.history.count - written + 1} more ctx writes: see the run store (context_history) or report.json`,
        })
        .commit()
      break
    }
    history
      .addRow({
        ...row,
        before: cell(compactJson(row.before, CELL_MAX)),
        after: cell(compactJson(row.after, CELL_MAX)),
      })
      .commit()
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
    row.commit()
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

function fill(target: ExcelJS.Cell, status: string): void {
  const color = STATUS_COLORS[status]
  if (color) target.fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: `FF${color}` } }
}

function cell(text: string): string {
  return text.length > CELL_MAX ? `${text.slice(0, CELL_MAX - 1)}…` : text
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
