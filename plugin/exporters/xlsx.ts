import { createRequire } from 'node:module'
import type ExcelJS from 'exceljs'
import type { DocumentCharts } from '../charts/index.ts'
import type { JsonValue } from '../context/json-value.ts'
import { numericMetrics, type RunData, type StepRow } from '../store/run-data.ts'
import { describeAttempts, formatMs, runDurationMs, STATUS_COLORS, statusCounts } from '../format/run-format.ts'
import { aiSummaryBlock, compactJson, reportTitle, titleFields } from './format.ts'

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
 * The run as an Excel workbook: Summary, Steps, Context, History, Metrics, Charts. Written with
 * exceljs's streaming writer, row by row straight to `file`: a run with 10k ctx writes is
 * never held in memory as a workbook. The charts are awaited last, once the other sheets are written.
 */
export async function writeXlsx(
  data: RunData,
  file: string,
  charts: Promise<DocumentCharts | undefined> = Promise.resolve(undefined),
): Promise<void> {
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
    summary.addRow({
      field: 'sum of step times',
      value: formatMs(data.steps.reduce((sum, step) => sum + step.durationMs, 0)),
    }),
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
        before: cell(compactJson(row.before, CELL_MAX)),
        after: cell(compactJson(row.after, CELL_MAX)),
      }),
    )
  }
  history.commit()

  writeMetrics(workbook, data.steps)
  const drawn = await charts
  if (drawn) writeCharts(workbook, drawn)
  await workbook.commit()
}

/** The parts of exceljs's streaming writer a sheet of pictures needs: it has no API for them (only the in-memory workbook has). */
interface StreamingInternals {
  zip: { append(source: unknown, options: { name: string }): unknown }
}
interface SheetInternals {
  _sheetRelsWriter: { addRelationship(relationship: { Type: string; Target: string }): string }
  _write(text: string): void
  _writeLegacyData(): void
}

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
const RELATIONSHIPS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships'
/** Pixels (96 to the inch) to the EMUs drawings count in. */
const EMU_PER_PIXEL = 9525
/** exceljs's default row height, 15 pt, in pixels. */
const ROW_PIXELS = 20

/**
 * Sheet Charts: each chart's caption, then its picture below it (at its size on a page), and
 * a line for each chart that could not be drawn, saying why. The pictures are one drawing
 * part (xl/drawings/drawing1.xml) anchoring each PNG (xl/media) at its row, written beside
 * the streamed sheet.
 */
function writeCharts(workbook: ExcelJS.stream.xlsx.WorkbookWriter, charts: DocumentCharts): void {
  const sheet = workbook.addWorksheet('Charts')
  sheet.columns = [{ key: 'text', width: 110 }]
  const anchors: string[] = []
  const relationships: string[] = []
  let next = 1
  charts.charts.forEach((chart, i) => {
    const caption = sheet.getRow(next)
    caption.getCell(1).value = cell(`Figure ${i + 1}. ${chart.title}${chart.note ? ` (${chart.note})` : ''}`)
    caption.getCell(1).font = { bold: true }
    commitRow(caption)
    const width = Math.round(chart.width / chart.scale)
    const height = Math.round(chart.height / chart.scale)
    const image = workbook.addImage({ buffer: Buffer.from(chart.png) as never, extension: 'png' })
    relationships.push(
      `<Relationship Id="rId${i + 1}" Type="${RELATIONSHIPS}/image" Target="../media/${(workbook.getImage(image) as ExcelJS.Image & { name: string }).name}"/>`,
    )
    anchors.push(pictureAnchor(i + 1, next, width, height, chart.name, chart.title))
    next += Math.ceil(height / ROW_PIXELS) + 2
  })
  for (const line of [
    ...charts.problems.map((problem) => `${problem.title} could not be drawn: ${problem.error}`),
    ...charts.notes,
  ]) {
    const row = sheet.getRow(next++)
    row.getCell(1).value = cell(line)
    commitRow(row)
  }
  if (anchors.length > 0) {
    const zip = (workbook as unknown as StreamingInternals).zip
    zip.append(
      `${XML_HEAD}<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="${RELATIONSHIPS}">${anchors.join('')}</xdr:wsDr>`,
      { name: 'xl/drawings/drawing1.xml' },
    )
    zip.append(
      `${XML_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${relationships.join('')}</Relationships>`,
      { name: 'xl/drawings/_rels/drawing1.xml.rels' },
    )
    // The drawing part needs its content type, which the streaming writer's [Content_Types].xml does not list.
    const append = zip.append.bind(zip)
    zip.append = (source, options) =>
      append(
        options.name === '[Content_Types].xml' && typeof source === 'string'
          ? source.replace(
              '</Types>',
              '<Override PartName="/xl/drawings/drawing1.xml" ContentType="application/vnd.openxmlformats-officedocument.drawing+xml"/></Types>',
            )
          : source,
        options,
      )
    const internals = sheet as unknown as SheetInternals
    const id = internals._sheetRelsWriter.addRelationship({
      Type: `${RELATIONSHIPS}/drawing`,
      Target: '../drawings/drawing1.xml',
    })
    // <drawing> goes after the row breaks and before <legacyDrawing>, where the writer puts its comments.
    const writeLegacyData = internals._writeLegacyData.bind(sheet)
    internals._writeLegacyData = () => {
      internals._write(`<drawing r:id="${id}"/>`)
      writeLegacyData()
    }
  }
  sheet.commit()
}

/** A picture anchored at the top left of `row` (1-based) in column A, `width` × `height` pixels. */
function pictureAnchor(id: number, row: number, width: number, height: number, name: string, title: string): string {
  const cx = width * EMU_PER_PIXEL
  const cy = height * EMU_PER_PIXEL
  return (
    `<xdr:oneCellAnchor><xdr:from><xdr:col>0</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>${row}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from>` +
    `<xdr:ext cx="${cx}" cy="${cy}"/><xdr:pic><xdr:nvPicPr><xdr:cNvPr id="${id + 1}" name="${xmlAttribute(name)}" descr="${xmlAttribute(title)}"/>` +
    '<xdr:cNvPicPr><a:picLocks noChangeAspect="1"/></xdr:cNvPicPr></xdr:nvPicPr>' +
    `<xdr:blipFill><a:blip r:embed="rId${id}"/><a:stretch><a:fillRect/></a:stretch></xdr:blipFill>` +
    `<xdr:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="${cx}" cy="${cy}"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></xdr:spPr>` +
    '</xdr:pic><xdr:clientData/></xdr:oneCellAnchor>'
  )
}

/** Text as an XML attribute value; control characters, which XML cannot hold, are dropped. */
function xmlAttribute(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
      .replace(/[\u0000-\u001f\u007f]/g, '')
      .replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
  )
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
