import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JsonValue } from '../context/json-value.ts'
import type { RunData } from '../store/run-data.ts'
import { DocxThread } from './docx-thread.ts'
import { renderMarkdown } from './markdown.ts'
import { sampleRun } from './sample-run.ts'

export const REPORT_FORMATS = ['xlsx', 'docx', 'md', 'json'] as const
export type ReportFormat = (typeof REPORT_FORMATS)[number]
/** What a run writes unless told otherwise; `json` is on request (`recipes report --format json`). */
export const DEFAULT_FORMATS: readonly ReportFormat[] = ['xlsx', 'docx', 'md']
/** Where the documents go unless the plugin option reports.dir says otherwise (relative to the root). */
export const DEFAULT_REPORTS_DIR = 'reports'
/** The Office documents, skipped inside the VS Code extension unless asked for. */
export const OFFICE_FORMATS: readonly ReportFormat[] = ['xlsx', 'docx']

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
/** Where Word documents are written once preloadWriters started it; in this thread otherwise. */
let docxThread: DocxThread | undefined

const WRITERS: Record<ReportFormat, (data: RunData, file: string) => Promise<void>> = {
  xlsx: async (data, file) => (await loadXlsx()).writeXlsx(data, file),
  docx: async (data, file) =>
    docxThread?.running ? docxThread.write(data, file) : (await loadDocx()).writeDocx(data, file),
  md: async (data, file) => writeFileSync(file, renderMarkdown(data)),
  json: async (data, file) => writeFileSync(file, `${JSON.stringify(runJson(data), null, 2)}\n`),
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
  if (formats.includes('docx') && !docxThread?.running) {
    docxThread = DocxThread.start()
    if (!docxThread) loadDocx().catch(() => {})
  }
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
 * never stops the others.
 */
export async function exportRun(
  data: RunData,
  dir: string,
  formats: readonly ReportFormat[],
): Promise<ExportOutcome[]> {
  try {
    mkdirSync(dir, { recursive: true })
  } catch (error) {
    return formats.map((format) => ({ format, error: `cannot create ${dir}: ${(error as Error).message}`, ms: 0 }))
  }
  return Promise.all(
    formats.map(async (format): Promise<ExportOutcome> => {
      const file = join(dir, `report.${format}`)
      const temp = join(dir, `.report.${format}.${process.pid}.tmp`)
      const started = performance.now()
      try {
        await WRITERS[format](data, temp)
        renameSync(temp, file)
        return { format, file, ms: performance.now() - started }
      } catch (error) {
        rmSync(temp, { force: true })
        return { format, error: (error as Error).message || String(error), ms: performance.now() - started }
      }
    }),
  )
}

/** The whole run as one JSON document (`recipes report --format json`). */
function runJson(data: RunData): { [key: string]: JsonValue } {
  return {
    run: { ...data.run },
    steps: data.steps.map((step) => ({ ...step })),
    context: Object.fromEntries(data.context.map((row) => [row.key, row.value])),
    context_meta: data.context.map((row) => ({ key: row.key, who: row.who, ts: row.ts })),
    history: [...data.history.rows()].map((row) => ({ ...row, before: row.before ?? null, after: row.after ?? null })),
    analysis: data.analysis ? { summary_text: data.analysis.summaryText, metrics: data.analysis.metrics } : null,
  }
}
