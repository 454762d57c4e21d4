import ExcelJS from 'exceljs'
import type { JsonValue } from '../context/json-value.ts'
import { numericMetrics, type RunData, type StepRow } from '../store/run-data.ts'
import { compactJson, formatMs, reportTitle, runDurationMs, STATUS_COLORS, statusCounts, titleFields } from './format.ts'

/** Excel keeps at most 32,767 characters in a cell. */
const CELL_MAX = 32_000

/**
 * The run as an Excel workbook: Summary, Steps, Context, History, Metrics. Written with
 * exceljs's streaming writer, row by row straight to `file`: a run with 10k ctx writes is
 * never held in memory as a workbook.
 */
export async function writeXlsx(data: RunData, file: string): Promise<void> {
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useStyles: true, useSharedStrings: false })
  workbook.creator = 'vitest-recipes'
  workbook.created = new Date()
  const frozen = { views: [{ state: 'frozen' as const, ySplit: 1 }] }

  const summary = workbook.addWorksheet('Summary', frozen)
  summary.columns = [
    { header: 'field', key: 'field', width: 22 },
    { header: 'value', key: 'value', width: 70 },
  ]
  boldHeader(summary)
  summary.addRow({ field: 'title', value: reportTitle(data) }).commit()
  for (const [field, value] of titleFields(data)) summary.addRow({ field, value }).commit()
  summary.addRow({ field: 'steps', value: data.steps.length }).commit()
  for (const [status, n] of statusCounts(data)) {
    const row = summary.addRow({ field: `steps ${status}`, value: n })
    fill(row.getCell('field'), status)
    row.commit()
  }
  summary.addRow({ field: 'step time', value: formatMs(data.steps.reduce((sum, step) => sum + step.durationMs, 0)) }).commit()
  const duration = runDurationMs(data)
  if (duration !== undefined) summary.addRow({ field: 'duration (ms)', value: duration }).commit()
  if (data.analysis) summary.addRow({ field: 'analysis', value: cell(data.analysis.summaryText) }).commit()
  summary.commit()

  const steps = workbook.addWorksheet('Steps', frozen)
  steps.columns = [
    { header: 'idx', key: 'idx', width: 6 },
    { header: 'step', key: 'step', width: 28 },
    { header: 'status', key: 'status', width: 11 },
    { header: 'duration_ms', key: 'durationMs', width: 13 },
    { header: 'cpu_ms', key: 'cpuMs', width: 11 },
    { header: 'peak_rss_bytes', key: 'peakRssBytes', width: 16 },
    { header: 'exit_code', key: 'exitCode', width: 10 },
    { header: 'attempts', key: 'attempts', width: 9 },
    { header: 'reason', key: 'reason', width: 60 },
    { header: 'outputs', key: 'outputs', width: 40 },
    { header: 'params', key: 'params', width: 40 },
    { header: 'log', key: 'logPath', width: 40 },
  ]
  steps.autoFilter = 'A1:L1'
  boldHeader(steps)
  for (const step of data.steps) {
    const row = steps.addRow({
      ...step,
      durationMs: round(step.durationMs),
      cpuMs: round(step.cpuMs),
      reason: cell(step.reason ?? ''),
      outputs: cell(compactJson((step.envelope?.outputs as JsonValue | undefined) ?? [])),
      params: cell(compactJson(step.params)),
      logPath: step.logPath ?? '',
    })
    fill(row.getCell('status'), step.status)
    row.commit()
  }
  steps.commit()

  const context = workbook.addWorksheet('Context', frozen)
  context.columns = [
    { header: 'key', key: 'key', width: 32 },
    { header: 'value', key: 'value', width: 70 },
    { header: 'who', key: 'who', width: 24 },
    { header: 'ts', key: 'ts', width: 26 },
  ]
  context.autoFilter = 'A1:D1'
  boldHeader(context)
  for (const row of data.context) context.addRow({ ...row, value: cell(compactJson(row.value, CELL_MAX)) }).commit()
  context.commit()

  const history = workbook.addWorksheet('History', frozen)
  history.columns = [
    { header: 'seq', key: 'seq', width: 7 },
    { header: 'step', key: 'step', width: 24 },
    { header: 'key', key: 'key', width: 32 },
    { header: 'who', key: 'who', width: 24 },
    { header: 'ts', key: 'ts', width: 26 },
    { header: 'before', key: 'before', width: 40 },
    { header: 'after', key: 'after', width: 40 },
  ]
  history.autoFilter = 'A1:G1'
  boldHeader(history)
  for (const row of data.history.rows()) {
    history.addRow({ ...row, before: cell(compactJson(row.before, CELL_MAX)), after: cell(compactJson(row.after, CELL_MAX)) }).commit()
  }
  history.commit()

  writeMetrics(workbook.addWorksheet('Metrics', frozen), data.steps)
  await workbook.commit()
}

/** One row per step that reported numeric metrics, one column per metric name. */
function writeMetrics(sheet: ExcelJS.Worksheet, steps: readonly StepRow[]): void {
  const rows = steps.map((step) => [step, numericMetrics(step)] as const).filter(([, metrics]) => Object.keys(metrics).length > 0)
  const names = [...new Set(rows.flatMap(([, metrics]) => Object.keys(metrics)))]
  sheet.columns = [{ header: 'step', key: 'step', width: 28 }, { header: 'status', key: 'status', width: 11 }, ...names.map((name) => ({ header: name, key: `m:${name}`, width: Math.max(12, name.length + 2) }))]
  sheet.autoFilter = { from: { row: 1, column: 1 }, to: { row: 1, column: 2 + names.length } }
  boldHeader(sheet)
  for (const [step, metrics] of rows) {
    const row = sheet.addRow({ step: step.step, status: step.status, ...Object.fromEntries(Object.entries(metrics).map(([name, value]) => [`m:${name}`, value])) })
    fill(row.getCell('status'), step.status)
    row.commit()
  }
  sheet.commit()
}

function boldHeader(sheet: ExcelJS.Worksheet): void {
  sheet.getRow(1).font = { bold: true }
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
