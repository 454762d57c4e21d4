import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { ContextWrite } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'

/**
 * The last run of each recipe, step by step, so that `--resume-from` can rebuild the context
 * in a new process: `reports/.state/<recipe>.jsonl`, one line per finished step with the
 * values it wrote. Appends are batched (at most one per 100 ms, and one at the end), never
 * one per ctx.set. (The SQLite store will take this over.)
 */
export class RunJournal {
  private readonly path: string
  private started = false
  private buffered = ''
  private flushSoon: NodeJS.Timeout | undefined
  private readonly header: JournalHeader

  constructor(root: string, recipe: string, runId: string) {
    this.path = journalPath(root, recipe)
    this.header = { runId, recipe, startedAt: new Date().toISOString() }
  }

  record(step: string, status: string, writes: readonly ContextWrite[]): void {
    this.recordValues(step, status, writes.map((write) => [write.key, write.after]))
  }

  recordValues(step: string, status: string, writes: [string, JsonValue][]): void {
    if (!this.started) {
      // A new run replaces the last one's journal: truncate now, then append behind it.
      mkdirSync(dirname(this.path), { recursive: true })
      writeFileSync(this.path, `${JSON.stringify(this.header)}\n`)
      this.started = true
    }
    const entry: JournalEntry = { step, status, writes }
    // Batched: steps that end within 100 ms share one append (a file write per step costs
    // more than a short step). Resuming needs steps that ended, not every last millisecond.
    this.buffered += `${JSON.stringify(entry)}\n`
    this.flushSoon ??= setTimeout(() => this.flush(), FLUSH_EVERY_MS).unref()
  }

  /** Queues what is buffered (called on its own right after the step's tick, and at the end). */
  flush(): void {
    if (this.flushSoon) clearTimeout(this.flushSoon)
    this.flushSoon = undefined
    // One small synchronous append per batch: cheaper than a queued write, and on disk at once.
    if (this.buffered) appendFileSync(this.path, this.buffered)
    this.buffered = ''
  }
}

const FLUSH_EVERY_MS = 100

interface JournalHeader {
  runId: string
  recipe: string
  startedAt: string
}

interface JournalEntry {
  step: string
  status: string
  writes: [string, JsonValue][]
}

export interface ResumeSnapshot {
  /** The run the context comes from. */
  runId: string
  /** The context at the end of the step before the one resumed from. */
  values: JsonObject
  /** Journal entries of the steps that do not run again, to carry into this run's journal. */
  entries: { step: string; writes: [string, JsonValue][] }[]
}

/**
 * The context as the last run of `recipe` left it when `stepBefore` ended, or a sentence
 * saying why there is none. `stepBefore` undefined: resuming from the first step, nothing
 * to restore.
 */
export function loadResumeSnapshot(root: string, recipe: string, stepBefore: string | undefined): ResumeSnapshot | string {
  const path = journalPath(root, recipe)
  if (stepBefore === undefined) return { runId: 'none', values: {}, entries: [] }
  if (!existsSync(path)) return `no earlier run of ${recipe} is recorded (looked for ${relativeJournal(recipe)}); run the recipe once before resuming it`
  const [headerLine, ...lines] = readFileSync(path, 'utf8').split('\n').filter(Boolean)
  const header = JSON.parse(headerLine ?? '{}') as JournalHeader
  const entries = lines.map((line) => JSON.parse(line) as JournalEntry)
  const last = entries.findLastIndex((entry) => entry.step === stepBefore)
  if (last === -1) return `the last run of ${recipe} (${header.runId}) did not reach step "${stepBefore}", so there is no context to resume from`
  const kept = entries.slice(0, last + 1)
  const values: JsonObject = {}
  for (const entry of kept) for (const [key, value] of entry.writes) values[key] = value
  return { runId: header.runId, values, entries: kept.map(({ step, writes }) => ({ step, writes })) }
}

function journalPath(root: string, recipe: string): string {
  return join(root, relativeJournal(recipe))
}

function relativeJournal(recipe: string): string {
  return `reports/.state/${recipe.replace(/[\\/]/g, '__')}.jsonl`
}
