import { formatCount } from '../format/numbers.ts'
import { readFile, writeFile } from 'node:fs/promises'
import type { DocumentCharts } from '../charts/index.ts'
import type { JsonValue } from '../context/json-value.ts'
import {
  historyAnswer,
  missingLogMessage,
  PAGE_FILE,
  readStepLog,
  runAnswer,
  type StepLogsPlace,
} from '../store/run-page.ts'
import { type HistoryEntry, historyEntryOf } from '../store/history-entry.ts'
import { serializesShorterThan } from '../store/history-delta.ts'
import type { RunData } from '../store/run-data.ts'
import { reportTitle } from './format.ts'

/**
 * report.html: the dashboard's run page (web/dashboard.html) as one file that opens from disk.
 * The page is the same file the dashboard serves; the answers its routes give for this run
 * (store/run-page.ts: the run, its charts, each listed key's history, each step's log) are embedded
 * in it as JSON, and the page reads them there instead of asking a server. The charts are the
 * ones drawn for the other documents, embedded as SVG data: URLs. Nothing refers outside the
 * file. A large run is cut, and the page lists what was left out.
 */

/** How many ctx keys the file lists, in key order (the dashboard lists all; report.xlsx keeps all). */
export const HTML_CONTEXT_KEYS = 1000
/** The longest ctx value (as JSON) the file holds whole: the history entries' limit (history-entry.ts). */
const VALUE_MAX = 4 * 1024
/** A history entry's before, after and patch are each cut to this (the page shows their first 80 characters). */
const ENTRY_VALUE_MAX = 1024
/** A key's history keeps its last this many writes. */
export const HTML_HISTORY_PER_KEY = 100
/** ...and all keys' histories at most this many writes, each key its last ones. */
const HISTORY_TOTAL = 20_000
/** A step's log is cut to this many bytes: its first quarter and its last three quarters. */
export const HTML_LOG_MAX = 256 * 1024
/** All the logs of the file together: the later steps' logs are left out past it. */
const LOGS_TOTAL = 8 * 1024 * 1024
/** A step's params and envelope are each cut to this (as JSON). */
const STEP_VALUE_MAX = 64 * 1024

export interface HtmlOptions {
  /** Where the run's step logs are; without it the file holds none and says so. */
  logs?: StepLogsPlace
  /** When the file was written (ISO). @default now */
  written?: string
}

/** What one route answers: its body (JSON, or a log's text, or a chart's data: URL), or the error it gives. */
type Answer = { body: unknown } | { error: string }

/** The page, read once per process. */
let page: Promise<string> | undefined
const loadPage = () => (page ??= readFile(PAGE_FILE, 'utf8'))

/** Reads the page ahead (preloadWriters): the first report.html then costs nothing to start. */
export function preloadHtml(): void {
  loadPage().catch(() => {
    page = undefined
  })
}

/** Where the page takes its data: web/dashboard.html has this comment where the data goes. */
const DATA_MARK = '<!--report-data-->'

export async function writeHtml(
  data: RunData,
  file: string,
  charts: DocumentCharts | undefined,
  options: HtmlOptions = {},
): Promise<void> {
  await writeFile(file, await renderHtml(data, charts, options))
}

export async function renderHtml(
  data: RunData,
  charts: DocumentCharts | undefined,
  options: HtmlOptions = {},
): Promise<string> {
  const template = await loadPage()
  const at = template.indexOf(DATA_MARK)
  if (at < 0) throw new Error(`the page ${PAGE_FILE.pathname} has no ${DATA_MARK} where the report's data goes`)
  const notes: string[] = []
  const base = `/api/runs/${encodeURIComponent(data.run.runId)}`
  const answers: Record<string, Answer> = {}

  const listed = data.context.slice(0, HTML_CONTEXT_KEYS)
  if (data.context.length > listed.length)
    notes.push(
      `The ctx: the first ${formatCount(listed.length)} of ${formatCount(data.context.length)} ctx keys (in key order) are listed here; report.xlsx (sheet Context), report.json and the run store have every key.`,
    )
  let cutValues = 0
  const context = listed.map((row) => {
    const value = cut(row.value, VALUE_MAX)
    if (value !== row.value) cutValues++
    return value === row.value ? row : { ...row, value }
  })
  if (cutValues > 0)
    notes.push(
      `The ctx: ${formatCount(cutValues)} value${cutValues === 1 ? ' is' : 's are'} longer than ${formatCount(VALUE_MAX)} characters as JSON and cut here ("… more"); report.xlsx, report.json and the run store have them whole.`,
    )
  const steps = data.steps.map((step) => {
    const params = cut(step.params, STEP_VALUE_MAX) as typeof step.params
    const envelope = step.envelope && (cut(step.envelope, STEP_VALUE_MAX) as typeof step.envelope)
    return params === step.params && envelope === step.envelope ? step : { ...step, params, envelope }
  })
  answers[base] = { body: runAnswer({ ...data, steps, context }, [], 0) }

  const drawn = charts?.charts.filter((chart) => chart.svg !== undefined) ?? []
  answers[`${base}/charts`] = { body: { charts: drawn.map(({ name, title }) => ({ name, title })) } }
  for (const chart of drawn)
    answers[`${base}/charts/${encodeURIComponent(chart.name)}.svg`] = {
      body: `data:image/svg+xml;base64,${Buffer.from(chart.svg!).toString('base64')}`,
    }
  for (const chart of charts?.charts ?? []) if (chart.note) notes.push(`${chart.title}: ${chart.note}`)
  for (const problem of charts?.problems ?? []) notes.push(`${problem.title} could not be drawn: ${problem.error}`)
  notes.push(...(charts?.notes ?? []))

  for (const [key, entries] of await histories(data, new Set(listed.map((row) => row.key)), notes))
    answers[`${base}/history?key=${encodeURIComponent(key)}`] = { body: historyAnswer(key, entries) }

  await addLogs(data, base, options.logs, answers, notes)

  const embedded = {
    runId: data.run.runId,
    title: reportTitle(data),
    written: options.written ?? new Date().toISOString(),
    notes,
    // The step a reader looks at first: the first that failed.
    openStep: data.steps.find((step) => step.status === 'failed')?.step ?? null,
    answers,
  }
  const script = `<script type="application/json" id="report-data">${embedJson(embedded)}</script>`
  return template.slice(0, at) + script + template.slice(at + DATA_MARK.length)
}

/**
 * Each listed key's writes as the dashboard shows them (history-entry.ts), its values cut to
 * ENTRY_VALUE_MAX; a key's last HTML_HISTORY_PER_KEY writes, and at most HISTORY_TOTAL in all
 * (then each key keeps fewer of its last ones). What is cut is said in `notes`.
 */
async function histories(data: RunData, keys: Set<string>, notes: string[]): Promise<Map<string, HistoryEntry[]>> {
  const kept = new Map<string, HistoryEntry[]>()
  const totals = new Map<string, number>()
  let cutValues = false
  for await (const row of data.history.rows()) {
    if (!keys.has(row.key)) continue
    totals.set(row.key, (totals.get(row.key) ?? 0) + 1)
    let entries = kept.get(row.key)
    if (!entries) kept.set(row.key, (entries = []))
    const entry = historyEntryOf(row)
    if (cutEntry(entry)) cutValues = true
    entries.push(entry)
    // Dropped in batches: a key written 100,000 times is not shifted 100,000 times.
    if (entries.length >= 2 * HTML_HISTORY_PER_KEY) entries.splice(0, entries.length - HTML_HISTORY_PER_KEY)
  }
  let perKey = HTML_HISTORY_PER_KEY
  const sum = (limit: number) =>
    [...kept.values()].reduce((total, entries) => total + Math.min(entries.length, limit), 0)
  while (perKey > 1 && sum(perKey) > HISTORY_TOTAL) perKey = Math.floor(perKey / 2)
  const cutKeys: string[] = []
  for (const [key, entries] of kept) {
    if (entries.length > perKey) entries.splice(0, entries.length - perKey)
    const total = totals.get(key)!
    if (total > entries.length)
      cutKeys.push(`${key}: its last ${formatCount(entries.length)} of ${formatCount(total)} writes`)
  }
  if (cutKeys.length > 0)
    notes.push(
      `The key histories keep each key's last ${formatCount(perKey)} writes; report.xlsx (sheet History), report.json and the run store have every write. Cut: ${cutKeys.slice(0, 20).join('; ')}${cutKeys.length > 20 ? `; and ${formatCount(cutKeys.length - 20)} more keys` : ''}.`,
    )
  if (cutValues)
    notes.push(
      `The key histories: values and changes longer than ${formatCount(ENTRY_VALUE_MAX)} characters as JSON are cut ("… more").`,
    )
  return kept
}

/** Cuts the entry's before, after and patch to ENTRY_VALUE_MAX each, in place; true when one was cut. */
function cutEntry(entry: HistoryEntry): boolean {
  let cutOne = false
  for (const name of ['before', 'after'] as const) {
    const value = entry[name]
    if (value === undefined || value === null) continue
    const shorter = cut(value, ENTRY_VALUE_MAX)
    if (shorter === value) continue
    entry[name] = shorter
    cutOne = true
  }
  if (entry.patch) {
    const shorter = cut(entry.patch as unknown as JsonValue, ENTRY_VALUE_MAX)
    if (shorter !== (entry.patch as unknown)) {
      entry.patch = shorter as unknown as typeof entry.patch
      cutOne = true
    }
  }
  return cutOne
}

/** Each step's log, masked as stored, cut to HTML_LOG_MAX; past LOGS_TOTAL the later ones are left out. */
async function addLogs(
  data: RunData,
  base: string,
  place: StepLogsPlace | undefined,
  answers: Record<string, Answer>,
  notes: string[],
): Promise<void> {
  const withLog = data.steps.filter((step) => step.logPath !== null)
  if (withLog.length === 0) return
  if (!place) {
    for (const step of withLog)
      answers[`${base}/log?step=${encodeURIComponent(step.step)}`] = {
        error: `the log ${step.logPath} is not in this file (written without the project's folder)`,
      }
    return
  }
  // Read side by side, a few at a time; kept in step order, within the total.
  const reads = withLog.map((step) => () => readStepLog(place, step.logPath!, HTML_LOG_MAX))
  const logs = await limited(reads, 8)
  let total = 0
  const cutLogs: string[] = []
  const leftOut: string[] = []
  withLog.forEach((step, i) => {
    const path = `${base}/log?step=${encodeURIComponent(step.step)}`
    const log = logs[i]!
    if ('missing' in log) {
      answers[path] = { error: missingLogMessage(step.logPath, log.missing) }
      return
    }
    if (total + log.text.length > LOGS_TOTAL) {
      leftOut.push(step.logPath!)
      answers[path] = {
        error: `the log ${step.logPath} is not in this file (its logs hold ${formatCount(LOGS_TOTAL / 1024 / 1024)} MiB already): read it there`,
      }
      return
    }
    total += log.text.length
    if (log.cut > 0) cutLogs.push(`${step.step} (${step.logPath}, ${formatCount(log.size)} bytes)`)
    answers[path] = { body: log.text }
  })
  if (cutLogs.length > 0)
    notes.push(
      `The step logs: a log longer than ${formatCount(HTML_LOG_MAX / 1024)} KiB keeps its start and its end here, the middle left out; the whole log is in the Logs folder: ${cutLogs.join(', ')}.`,
    )
  if (leftOut.length > 0)
    notes.push(
      `The step logs: past ${formatCount(LOGS_TOTAL / 1024 / 1024)} MiB of logs the later steps' logs are left out of this file; read them in the Logs folder: ${leftOut.slice(0, 20).join(', ')}${leftOut.length > 20 ? ` and ${formatCount(leftOut.length - 20)} more` : ''}.`,
    )
}

/** The tasks' results in order, at most `limit` running at a time. */
async function limited<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length)
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++
      results[i] = await tasks[i]!()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker))
  return results
}

/**
 * JSON that can stand inside a `<script>` element: `<`, `>` and `&` (and the line separators)
 * as \u escapes, which JSON.parse reads back as the same characters. No `</script>` or `<!--`
 * in a ctx value or a log can then end the element or change how the page is parsed.
 */
export function embedJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** `value` itself when it is shorter than `max` characters as JSON, else trimJson of it. */
function cut(value: JsonValue, max: number): JsonValue {
  return serializesShorterThan(value, max + 1) ? value : trimJson(value, max)
}

/**
 * A JSON value cut to about `max` characters in its own shape: a string keeps its start and
 * says how many characters more it had, a list its first items and how many more, an object
 * its first keys and (under the key `…`) how many more. A value that fits is returned whole.
 */
export function trimJson(value: JsonValue, max: number): JsonValue {
  if (serializesShorterThan(value, max + 1)) return value
  let budget = max
  const walk = (item: JsonValue): JsonValue => {
    if (typeof item === 'string') {
      if (item.length + 2 <= budget) {
        budget -= item.length + 2
        return item
      }
      const kept = item.slice(0, Math.max(0, budget))
      budget = 0
      return `${kept}… (${formatCount(item.length - kept.length)} more characters)`
    }
    if (item === null || typeof item !== 'object') {
      budget -= JSON.stringify(item).length
      return item
    }
    if (Array.isArray(item)) {
      const out: JsonValue[] = []
      for (let i = 0; i < item.length; i++) {
        if (budget <= 0) {
          out.push(`… ${formatCount(item.length - i)} more items`)
          break
        }
        budget -= 1
        out.push(walk(item[i]!))
      }
      return out
    }
    const out: { [key: string]: JsonValue } = {}
    const entries = Object.entries(item)
    for (let i = 0; i < entries.length; i++) {
      if (budget <= 0) {
        out['…'] = `${formatCount(entries.length - i)} more keys`
        break
      }
      const [key, inner] = entries[i]!
      budget -= key.length + 4
      out[key] = walk(inner)
    }
    return out
  }
  return walk(value)
}
