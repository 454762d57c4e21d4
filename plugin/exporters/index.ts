import { historyEntryOf } from '../store/history-entry.ts'
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DocumentCharts, preloadCharts, renderRunCharts } from '../charts/index.ts'
import type { JsonValue } from '../context/json-value.ts'
import { collect, type RunData, type TrendRun } from '../store/run-data.ts'
import { DocxThread } from './docx-thread.ts'
import { renderMarkdown } from './markdown.ts'
import { sampleRun } from '../store/sample-run.ts'
import type { StepLogsPlace } from '../store/run-page.ts'

export const REPORT_FORMATS = ['xlsx', 'docx', 'md', 'html', 'json'] as const
export type ReportFormat = (typeof REPORT_FORMATS)[number]
/** What a run writes unless told otherwise; `json` is on request (`recipes report --format json`). */
export const DEFAULT_FORMATS: readonly ReportFormat[] = ['xlsx', 'docx', 'md', 'html']
/** Where the documents go unless the plugin option reports.dir says otherwise (relative to the root). */
export const DEFAULT_REPORTS_DIR = 'reports'
/**
 * The documents skipped inside the VS Code extension unless asked for (`office: true`): the
 * Office documents and report.html, which draw the charts (their engines take a second to load).
 */
export const OFFICE_FORMATS: readonly ReportFormat[] = ['xlsx', 'docx', 'html']

/** The documents that embed the charts: a run writing none of them draws none (the engines never load). */
const CHART_FORMATS: readonly ReportFormat[] = ['xlsx', 'docx', 'html']

/** Whether writing `formats` draws the run's charts (the reporter draws them ahead then). */
export function drawsCharts(formats: readonly ReportFormat[]): boolean {
  return formats.some((format) => CHART_FORMATS.includes(format))
}

export interface ExportOptions {
  /** Recent runs of the run's test id, oldest first (RunStore.trend), for the metric charts; without it they show this run alone. */
  trend?: readonly TrendRun[]
  /** Where the run's step logs are (report.html embeds them); without it report.html says they are not in it. */
  logs?: StepLogsPlace
}

export interface ExportOutcome {
  format: ReportFormat
  /** The file written; absent when the writer failed. */
  file?: string
  error?: string
  ms: number
}

// Office writers load on use (or on preloadWriters): a run that writes only Markdown never loads exceljs or docx.
const loadXlsx = () => import('./xlsx.ts')
const loadDocx = () => import('./docx.ts')
const loadHtml = () => import('./html.ts')
/** Where Word documents are written once preloadWriters started it; in this thread otherwise. */
let docxThread: DocxThread | undefined

/** Each writer gets the run's charts as a promise: it writes what it can before it needs them. */
type Writer = (
  data: RunData,
  file: string,
  charts: Promise<DocumentCharts | undefined>,
  options: ExportOptions,
) => Promise<void>

const WRITERS: Record<ReportFormat, Writer> = {
  xlsx: async (data, file, charts) => (await loadXlsx()).writeXlsx(data, file, charts),
  docx: async (data, file, charts) =>
    docxThread?.running
      ? docxThread.write(data, file, await charts)
      : (await loadDocx()).writeDocx(data, file, await charts),
  md: async (data, file, charts) => writeFileSync(file, renderMarkdown(data, await charts)),
  html: async (data, file, charts, options) =>
    (await loadHtml()).writeHtml(data, file, await charts, options.logs ? { logs: options.logs } : {}),
  json: async (data, file) => writeFileSync(file, `${JSON.stringify(await runJson(data), null, 2)}\n`),
}

/**
 * Starts loading the Office writers of `formats` (exceljs and docx take a few hundred ms) and
 * writing a sample run with each (a writer's first document runs cold, several times slower),
 * so they are ready when the documents are written; call it while the run still goes. Word
 * documents are then written in a worker thread of their own (which loads docx there), side
 * by side with the workbooks. A writer that cannot load fails later, when used, in its outcome.
 */
export function preloadWriters(formats: readonly ReportFormat[]): void {
  if (formats.includes('xlsx')) loadXlsx().then(warmUpXlsx, () => {})
  if (formats.includes('html'))
    loadHtml().then(
      ({ preloadHtml }) => preloadHtml(),
      () => {},
    )
  if (formats.includes('docx') && !docxThread?.running) {
    docxThread = DocxThread.start()
    if (!docxThread) loadDocx().catch(() => {})
  }
  // The Word writer's thread draws the charts too (and loads their engines as it starts); without it, this thread does.
  if (drawsCharts(formats) && !docxThread?.running) preloadCharts()
}

/** Writes the sample run's workbook once (to a temp file, deleted), so the real workbooks run warm. */
async function warmUpXlsx({ writeXlsx }: typeof import('./xlsx.ts')): Promise<void> {
  const file = join(tmpdir(), `vitest-recipes-warm-up-${process.pid}-${randomUUID()}.xlsx`)
  try {
    await writeXlsx(sampleRun(), file)
  } catch {
    // Only a warm-up: the real workbooks say what goes wrong.
  } finally {
    rmSync(file, { force: true })
  }
}

/**
 * Writes the run's documents as `<dir>/report.<format>`, side by side (their file and zip
 * work overlap). Each writer works on a temporary file renamed into place when complete, so
 * a reader never sees half a document; a writer that fails is reported in its outcome and
 * never stops the others. When an Office document or report.html is asked for, the run's
 * charts are drawn once, meanwhile, written as `<dir>/charts/<name>.png` and shown by every
 * document (report.html embeds their SVG).
 */
export async function exportRun(
  data: RunData,
  dir: string,
  formats: readonly ReportFormat[],
  options: ExportOptions = {},
): Promise<ExportOutcome[]> {
  try {
    mkdirSync(dir, { recursive: true })
  } catch (error) {
    return formats.map((format) => ({ format, error: `cannot create ${dir}: ${folderFailure(error)}`, ms: 0 }))
  }
  const charts = drawsCharts(formats)
    ? drawCharts(data, options.trend ?? [], join(dir, 'charts'))
    : Promise.resolve(undefined)
  return Promise.all(
    formats.map(async (format): Promise<ExportOutcome> => {
      const file = join(dir, `report.${format}`)
      const temp = join(dir, `.report.${format}.${process.pid}.tmp`)
      const started = performance.now()
      try {
        await WRITERS[format](data, temp, charts, options)
        renameSync(temp, file)
        return { format, file, ms: performance.now() - started }
      } catch (error) {
        rmSync(temp, { force: true })
        return { format, error: writeFailure(error, file), ms: performance.now() - started }
      }
    }),
  )
}

/** Why a document folder could not be made, and what to do. */
function folderFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code
  const message = (error as Error).message || String(error)
  if (code === 'ENOTDIR' || code === 'EEXIST')
    return `${message}; a file stands where a folder of that path should be: move it aside, or write the documents elsewhere (the plugin option reports.dir), then write them again`
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
    return `${message}; its folder is read-only: make it writable, or write the documents elsewhere (the plugin option reports.dir), then write them again`
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return `${message}; the disk is full: free some space, then write the documents again`
  return message
}

/**
 * What a writer's failure says: its message, and for a failure of the file system which file
 * and what to do (the message of a write that failed names no file, or the temporary one).
 */
function writeFailure(error: unknown, file: string): string {
  const message = (error as Error).message || String(error)
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG')
    return `${message}: writing ${file}; the disk is full (or a quota or file size limit is reached): free some space, then write the documents again`
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
    return `${message}: writing ${file}; its folder is read-only: make it writable, then write the documents again`
  if (code === 'EIO') return `${message}: writing ${file}; the disk failed: check it, then write the documents again`
  return message
}

/**
 * Draws the run's charts and writes each as `<dir>/<name>.png` (the folder holds this run's
 * charts only). Never throws: a chart that cannot be drawn, or files that cannot be written,
 * become sentences the documents show.
 */
async function drawCharts(data: RunData, trend: readonly TrendRun[], dir: string): Promise<DocumentCharts> {
  const early = drawnAhead.get(data.run.runId)
  drawnAhead.delete(data.run.runId)
  const drawn = await (early ?? chartsOf(data, trend))
  try {
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    for (const chart of drawn.charts) {
      const temp = join(dir, `.${chart.name}.${process.pid}.tmp`)
      writeFileSync(temp, chart.png)
      renameSync(temp, join(dir, `${chart.name}.png`))
    }
    return { ...drawn, files: 'charts' }
  } catch (error) {
    return {
      ...drawn,
      notes: [...drawn.notes, `the chart files could not be written to ${dir}: ${(error as Error).message}`],
    }
  }
}

/** The charts of runs whose documents are not written yet, drawn ahead by drawChartsAhead. */
const drawnAhead = new Map<string, Promise<DocumentCharts>>()
/** At most this many runs' charts wait for their documents (their PNGs are held in memory meanwhile). */
const MAX_DRAWN_AHEAD = 50

/**
 * Starts drawing a stored run's charts now, while other recipe files still run, for its
 * documents to take when they are written (exportRun). Call preloadWriters first: with the
 * Word writer's thread the charts are drawn there, off this thread.
 */
export function drawChartsAhead(data: RunData, trend: readonly TrendRun[]): void {
  if (drawnAhead.has(data.run.runId) || drawnAhead.size >= MAX_DRAWN_AHEAD) return
  drawnAhead.set(data.run.runId, chartsOf(data, trend))
}

/** Forgets the charts drawn ahead that no document took (their runs wrote none): call it once the documents are written. */
export function forgetChartsAhead(): void {
  drawnAhead.clear()
}

/** The run's charts, drawn in the Word writer's thread when it runs, else here; never rejects. */
async function chartsOf(data: RunData, trend: readonly TrendRun[]): Promise<DocumentCharts> {
  try {
    return docxThread?.running ? await docxThread.draw(data, trend) : await renderRunCharts(data, trend)
  } catch (error) {
    return {
      charts: [],
      problems: [{ name: 'charts', title: 'The charts', error: (error as Error).message }],
      notes: [],
    }
  }
}

/** The whole run as one JSON document (`recipes report --format json`). */
async function runJson(data: RunData): Promise<{ [key: string]: JsonValue }> {
  return {
    run: { ...data.run },
    steps: data.steps.map((step) => ({ ...step })),
    context: Object.fromEntries(data.context.map((row) => [row.key, row.value])),
    context_meta: data.context.map((row) => ({ key: row.key, who: row.who, ts: row.ts })),
    history: (await collect(data.history.rows())).map((row) => historyEntryOf(row) as unknown as JsonValue),
    analysis: data.analysis ? { summary_text: data.analysis.summaryText, metrics: data.analysis.metrics } : null,
  }
}
