import { formatCount } from '../format/numbers.ts'
import type { JsonValue } from '../context/json-value.ts'
import { formatMs, runDurationMs } from '../format/run-format.ts'
import { cutText, visibleText, visibleValues } from '../format/document-text.ts'
import { type AiSummary, type ContextRow, type HistoryRow, type RunData, testMetaOf } from '../store/run-data.ts'
import { describeSelection, selectionOf } from '../store/run-selection.ts'

/** A JSON value on one line for a table cell (a string as it is), cut at `max` characters, saying so (cutText). */
export function compactJson(value: JsonValue | undefined, max = 2000): string {
  if (value === undefined) return ''
  return cutText(typeof value === 'string' ? value : JSON.stringify(value), max)
}

/**
 * The longest text report.docx and report.md show whole (a reason, a param, a ctx write, a
 * line of the analysis): a 10 MB reason made a Word document LibreOffice did not print in
 * five minutes, and a Markdown file over the 1 MiB a CI job summary takes. report.xlsx keeps
 * 32,000 characters of each, the store all of it.
 */
export const READ_TEXT_MAX = 4000

/**
 * The run as a document shows it (visibleText): every string of it, its ctx writes as they
 * are read too, with the characters an XML document cannot hold made visible, and each cut to
 * `max` characters, saying so (each line of the analysis on its own). The Office documents and
 * report.md are written from it; the store, report.json and report.html (whose JSON holds any
 * character) keep the text as it was.
 */
export function readableRun(data: RunData, max = Number.POSITIVE_INFINITY): RunData {
  const { history, analysis, ...rest } = data
  return {
    ...visibleValues(rest, max),
    analysis: analysis && {
      ...visibleValues(analysis, max),
      summaryText: analysis.summaryText
        .split('\n')
        .map((line) => cutText(visibleText(line), max))
        .join('\n'),
    },
    history: { count: history.count, rows: () => visibleRows(history.rows(), max) },
  }
}

function visibleRows(
  rows: AsyncIterable<HistoryRow> | Iterable<HistoryRow>,
  max: number,
): AsyncIterable<HistoryRow> | Iterable<HistoryRow> {
  return Symbol.asyncIterator in rows
    ? (async function* () {
        for await (const row of rows) yield visibleValues(row, max)
      })()
    : (function* () {
        for (const row of rows) yield visibleValues(row, max)
      })()
}

/** The title-block fields of a report: test_meta first, then the run's own facts. */
export function titleFields(data: RunData): [string, string][] {
  const meta = testMetaOf(data.run)
  const fields: [string, string][] = []
  for (const [key, value] of Object.entries(meta))
    fields.push([key, Array.isArray(value) ? value.join(', ') : compactJson(value)])
  // The values the recipe's vars took in this run (one procedure, many devices: which device).
  const vars = data.run.metadata.vars
  if (vars && typeof vars === 'object' && !Array.isArray(vars) && Object.keys(vars).length > 0)
    fields.push([
      'vars',
      Object.entries(vars)
        .map(([name, value]) => `${name}=${compactJson(value, 200)}`)
        .join(', '),
    ])
  const duration = runDurationMs(data)
  fields.push(
    ['recipe', data.run.recipe],
    ['run_id', data.run.runId],
    ['status', data.run.status],
    ['start_time', data.run.startTime],
    ['end_time', data.run.endTime ?? ''],
    ['duration', duration === undefined ? '' : formatMs(duration)],
    ['host', data.run.host ?? ''],
    ['vitest', data.run.vitestVersion ?? ''],
  )
  // A run of some steps only says so: the others did not run, or ran as setup.
  const selection = selectionOf(data.run.metadata)
  if (selection) fields.push(['selection', `${describeSelection(selection)}; the other steps did not run`])
  return fields
}

/** The report's title: the test id and description when the recipe gave them. */
export function reportTitle(data: RunData): string {
  const meta = testMetaOf(data.run)
  const id = typeof meta.test_id === 'string' ? meta.test_id : (data.run.testId ?? data.run.recipe)
  return typeof meta.description === 'string' && meta.description ? `${id} — ${meta.description}` : id
}

/** The outputs a step reported in its envelope. */
export function stepOutputs(envelope: { [key: string]: JsonValue } | null): string[] {
  const outputs = envelope?.outputs
  return Array.isArray(outputs) ? outputs.filter((item): item is string => typeof item === 'string') : []
}

/**
 * How many ctx keys the Word and Markdown documents list, in key order: a run whose ctx holds
 * 100,000 keys would otherwise make a Word document of gigabytes. report.xlsx (sheet Context)
 * and the run store keep every key.
 */
export const LISTED_CONTEXT_KEYS = 200
/** How many output keys a step lists in the Word and Markdown documents. */
export const LISTED_STEP_OUTPUTS = 20

/** The ctx rows a document lists, and, when some are left out, the sentence saying how many and where they are. */
export function listedContext(data: RunData): { rows: ContextRow[]; leftOut: string | undefined } {
  const total = data.context.length
  if (total <= LISTED_CONTEXT_KEYS) return { rows: data.context, leftOut: undefined }
  return {
    rows: data.context.slice(0, LISTED_CONTEXT_KEYS),
    leftOut: `${formatCount(total - LISTED_CONTEXT_KEYS)} more ctx keys are not listed here (the first ${LISTED_CONTEXT_KEYS} of ${formatCount(total)}, in key order): report.xlsx (sheet Context) has every key, and so does the run store (\`npx recipes report --run ${data.run.runId} --format json\`, or SQL on its context_snapshots table).`,
  }
}

/** A step's output keys as one line, the first LISTED_STEP_OUTPUTS of them and how many more. */
export function listedOutputs(outputs: readonly string[], show: (key: string) => string = (key) => key): string {
  const listed = outputs.slice(0, LISTED_STEP_OUTPUTS).map(show).join(', ')
  const rest = outputs.length - LISTED_STEP_OUTPUTS
  return rest > 0
    ? `${listed} and ${formatCount(rest)} more (its ctx writes are in report.xlsx, sheet History)`
    : listed
}

/** The AI summary as the documents show it: a heading that says what it is, then its text or why there is none. */
export function aiSummaryBlock(ai: AiSummary): { title: string; text: string } {
  return ai.status === 'answered'
    ? {
        title: `AI suggestion (${ai.model} at ${ai.endpoint}): check it against the data`,
        text: ai.text ?? '',
      }
    : {
        title: 'AI summary unavailable',
        text: `${ai.model} at ${ai.endpoint} gave no summary: ${ai.reason ?? 'no reason given'}. The heuristic analysis stands alone.`,
      }
}
