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

  const context = addTable(workbook, 'Context', title, [
    ['key', fitted(data.context.map((row) => row.key))],
    ['value', 60, 'value', WRAP],
    ['who', fitted(data.context.map((row) => row.who ?? ''))],
    ['ts', 26],
  ])
  for (const row of data.context) commitRow(context.addRow({ ...row, value: cell(compactJson(row.value, CELL_MAX)) }))
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
        before: cell(compactJson(row.before, CELL_MAX)),
        after: cell(compactJson(row.after, CELL_MAX)),
      }),
    )
  }
  history.commit()

  writeMetrics(workbook, data.steps, title)
  const drawn = await charts
  if (drawn) writeCharts(workbook, drawn, title)
  await workbook.commit()
}

/** The parts of exceljs's streaming writer a sheet of pictures needs: it has no API for them (only the in-memory workbook has). */
interface StreamingInternals {
  zip: { append(source: unknown, options: { name: string }): unknown }
}
interface SheetInternals {
  /** Page breaks above the rows after row `id` (1-based), written with the sheet. */
  rowBreaks: { id: number; max: number; man: number }[]
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
function writeCharts(workbook: ExcelJS.stream.xlsx.WorkbookWriter, charts: DocumentCharts, title: string): void {
  // Column A as wide as the widest picture (a character is about 7 pixels), the captions wrapped in it.
  const width = Math.max(80, ...charts.charts.map((chart) => Math.ceil(chart.width / chart.scale / 7)))
  const sheet = workbook.addWorksheet('Charts', printed('Charts', title, [width]))
  sheet.columns = [{ key: 'text', width, style: { alignment: WRAP } }]
  const anchors: string[] = []
  const relationships: string[] = []
  let next = 1
  // A chart that would not fit in what is left of a printed page starts the next one: a picture
  // is cut over two pages only when it is taller than a page.
  const page = pagePixels([width])
  const pageBreaks = (sheet as unknown as SheetInternals).rowBreaks
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
    caption.getCell(1).value = cell(`Figure ${i + 1}. ${chart.title}${chart.note ? ` (${chart.note})` : ''}`)
    caption.getCell(1).font = { bold: true }
    commitRow(caption)
    const image = workbook.addImage({ buffer: Buffer.from(chart.png) as never, extension: 'png' })
    relationships.push(
      `<Relationship Id="rId${i + 1}" Type="${RELATIONSHIPS}/image" Target="../media/${(workbook.getImage(image) as ExcelJS.Image & { name: string }).name}"/>`,
    )
    anchors.push(pictureAnchor(i + 1, next, Math.round(chart.width / chart.scale), height, chart.name, chart.title))
    next += rows
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
function writeMetrics(workbook: ExcelJS.stream.xlsx.WorkbookWriter, steps: readonly StepRow[], title: string): void {
  const rows = steps
    .map((step) => [step, numericMetrics(step)] as const)
    .filter(([, metrics]) => Object.keys(metrics).length > 0)
  const names = [...new Set(rows.flatMap(([, metrics]) => Object.keys(metrics)))]
  const sheet = addTable(workbook, 'Metrics', title, [
    ['step', fitted(rows.map(([step]) => step.step))],
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
    header,
    key: key ?? header,
    width,
    ...(alignment ? { style: { alignment } } : {}),
  }))
  sheet.autoFilter = { from: { row: 1, column: 1 }, to: { row: 1, column: columns.length } }
  sheet.getRow(1).font = { bold: true }
  return sheet
}

/** Inches of a page's margins (each side, top and bottom), and what is left of the smaller of A4 (8.27 × 11.69 in) and Letter (8.5 × 11 in). */
const SIDE_MARGIN = 0.5
const TOP_MARGIN = 0.75
const PORTRAIT_WIDTH = 8.27 - 2 * SIDE_MARGIN
const PORTRAIT_HEIGHT = 11 - 2 * TOP_MARGIN
const LANDSCAPE_WIDTH = 11 - 2 * SIDE_MARGIN
const LANDSCAPE_HEIGHT = 8.27 - 2 * TOP_MARGIN

/** Inches across a sheet of columns `widths` wide (in characters: a column of w is about 7w + 5 pixels, 96 to the inch). */
function sheetInches(widths: readonly number[]): number {
  return widths.reduce((sum, width) => sum + (7 * width + 5) / 96, 0)
}

/** Whether a sheet prints across the page: when it would shrink by more than a tenth to fit an upright one. */
function landscape(widths: readonly number[]): boolean {
  return sheetInches(widths) > PORTRAIT_WIDTH * 1.1
}

/** The height of a printed page, in pixels of the sheet (it prints shrunk to the page's width when wider). */
function pagePixels(widths: readonly number[]): number {
  const inches = sheetInches(widths)
  const across = landscape(widths)
  const scale = Math.min(1, (across ? LANDSCAPE_WIDTH : PORTRAIT_WIDTH) / inches)
  return ((across ? LANDSCAPE_HEIGHT : PORTRAIT_HEIGHT) * 96) / scale
}

/**
 * How a sheet prints: one page wide, as many pages long as it takes (fitToWidth 1, fitToHeight
 * 0: a sheet's columns are never split over pages), across the page (landscape) when its
 * columns are wider than an upright page (see landscape), its first row repeated at the top of every page,
 * and each page headed with the report's title and the sheet's name, and numbered.
 */
function printed(name: string, title: string, widths: number[]): Partial<ExcelJS.AddWorksheetOptions> {
  return {
    pageSetup: {
      orientation: landscape(widths) ? 'landscape' : 'portrait',
      fitToPage: true,
      fitToWidth: 1,
      fitToHeight: 0,
      ...(name === 'Charts' ? {} : { printTitlesRow: '1:1' }),
      margins: { left: SIDE_MARGIN, right: SIDE_MARGIN, top: TOP_MARGIN, bottom: TOP_MARGIN, header: 0.3, footer: 0.3 },
    },
    headerFooter: {
      // & starts a code in a header: a title's own is doubled. Excel keeps 255 characters of a header.
      oddHeader: `&L${title.slice(0, 120).replaceAll('&', '&&')}&R&A`,
      oddFooter: '&CPage &P of &N',
    } as ExcelJS.HeaderFooter,
  }
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
 * Writes the row out, its unstyled cells sharing one style object, as tall as its wrapped
 * text needs: a spreadsheet opened from a file keeps the rows at the height the file gives
 * (LibreOffice does not fit them), and wrapped text would spill over the rows below.
 */
function commitRow(row: ExcelJS.Row): void {
  let lines = 1
  row.eachCell({ includeEmpty: true }, (target) => {
    const keys = Object.keys(target.style)
    if (keys.length === 0) target.style = typeof target.value === 'number' ? PLAIN_NUMBER : PLAIN_TEXT
    // A cell of a wrapped column gets a copy of the column's style: share one instead.
    else if (keys.length === 1 && target.style.alignment === WRAP)
      target.style = typeof target.value === 'number' ? WRAPPED_NUMBER : WRAPPED_TEXT
    if (target.style.alignment?.wrapText && typeof target.value === 'string' && target.value.length > 8)
      lines = Math.max(lines, wrappedLines(target.value, row.worksheet.getColumn(target.col).width ?? 10))
  })
  if (lines > 1) row.height = Math.min(MAX_ROW_HEIGHT, lines * LINE_HEIGHT)
  row.commit()
}

/** Points a line of the default font (Calibri 11) takes in a row, and the tallest row a sheet may have. */
const LINE_HEIGHT = 15
const MAX_ROW_HEIGHT = 409

/**
 * How many lines `text` wraps to in a column `width` characters wide, at spaces, a word longer
 * than the line broken where it ends. Counted over rather than under: every character as wide
 * as a digit (most letters are narrower), so the text never spills out of its row.
 */
function wrappedLines(text: string, width: number): number {
  const room = Math.max(1, width - 1)
  let lines = 0
  for (const paragraph of text.split('\n')) {
    lines++
    let used = 0
    for (const word of paragraph.split(' ')) {
      const needed = used === 0 ? word.length : used + 1 + word.length
      if (needed <= room) used = needed
      else {
        if (used > 0) lines++
        used = word.length
        while (used > room) {
          lines++
          used -= room
        }
      }
      if (lines * LINE_HEIGHT >= MAX_ROW_HEIGHT) return lines
    }
  }
  return lines
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
