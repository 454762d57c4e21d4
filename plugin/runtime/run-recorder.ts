import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { Context, ContextWrite } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import { resumeReaders } from '../recipe/dataflow.ts'
import { type DeclaringScriptlet, stepDeclarations } from '../recipe/preflight.ts'
import { type HistoryWrite, HistoryTracker } from '../store/history-delta.ts'
import { RunJournal } from '../store/journal.ts'
import { locateStore } from '../store/kept-store.ts'
import type { OwnJournal } from '../store/own-journal.ts'
import type { ResumeReader, ResumeSnapshot } from '../store/resume.ts'
import type { RunRecorder } from '../store/run-store.ts'
import type { RunSelection } from '../store/run-selection.ts'
import type { Redactor } from './redact.ts'
import { directLockClient, httpLockClient, type LockClient } from './resource-holds.ts'
import { readKeptStores } from './run-options.ts'
import type { CompiledRecipe, RunOptions } from './spec.ts'

/** Where a run resumed with --resume-from takes its context from. */
export interface ResumePoint {
  /** Position of the step resumed from in the recipe. */
  index: number
  /** The restored context, or why there is none. */
  snapshot: ResumeSnapshot | string
}

/** Where a run is recorded, and what the Vitest process that keeps its store says of it. */
export interface OpenedRecorder {
  recorder: RunRecorder
  resume?: ResumePoint
  /** The Vitest version the keeping process runs. */
  vitest?: string | undefined
  /** The keeping process's lock service. */
  lockAddress?: { url: string; token: string } | undefined
}

/**
 * Where the run is recorded. Nothing is lost either way: the run exists before its first
 * step and each step boundary is durable when it ends. When the Vitest process keeps the
 * store (it opened it before the files ran, and ingests their journals), the run goes to
 * its journal, one append per step; otherwise (or to resume) this file opens the store.
 */
export async function openRunRecorder(
  compiled: CompiledRecipe,
  runId: string,
  options: RunOptions,
  scriptlets: ReadonlyMap<string, DeclaringScriptlet>,
  resumeIndex: number,
  redactor?: Redactor,
): Promise<OpenedRecorder> {
  const { root, recipe, db } = compiled
  const located = locateStore(root, db)
  const { path, shown } = located
  const kept = readKeptStores()[path]
  // The Vitest process could not open the store: this run cannot be recorded, so it does not start.
  if (kept?.error !== undefined) throw new Error(kept.error)
  let resume: ResumePoint | undefined
  if (resumeIndex >= 0 || !kept) {
    // Loaded only here: a file whose store is kept never loads SQLite.
    const { RunStore } = await import('../store/run-store.ts')
    const store = await RunStore.openLocated(located)
    try {
      if (resumeIndex >= 0) {
        const { loadResumeSnapshot, refuseUnrestorableReads } = await import('../store/resume.ts')
        const before = recipe.steps[resumeIndex - 1]?.name
        const snapshot = await loadResumeSnapshot(
          store,
          recipe.file,
          before,
          undefined,
          process.env,
          recipe.combination,
          redactor?.text,
        )
        const refused =
          typeof snapshot !== 'string' && snapshot.unrestorable
            ? refuseUnrestorableReads(snapshot, readersFrom(compiled, options, scriptlets, resumeIndex))
            : undefined
        resume = { index: resumeIndex, snapshot: refused ?? snapshot }
      }
    } catch (error) {
      await store.close()
      throw error
    }
    if (!kept) {
      // This file keeps the store: it journals as every file does, and stores its journal itself.
      const { OwnJournal } = await import('../store/own-journal.ts')
      const recorder = new OwnJournal(RunJournal.create(path, shown, runId), store)
      return { recorder, ...(resume ? { resume } : {}) }
    }
    await store.close()
  }
  return {
    recorder: RunJournal.create(path, shown, runId),
    ...(resume ? { resume } : {}),
    vitest: kept.vitestVersion,
    lockAddress: kept.locks,
  }
}

/** The steps a resume from `fromIndex` runs (not those --skip names) and the keys each reads, as declared. */
function readersFrom(
  compiled: CompiledRecipe,
  options: RunOptions,
  scriptlets: ReadonlyMap<string, DeclaringScriptlet>,
  fromIndex: number,
): ResumeReader[] {
  const { recipe, root, python } = compiled
  const declarations = stepDeclarations({ recipe, root, pythonPath: python.path, scriptlets })
  return resumeReaders(recipe, declarations, fromIndex, options.skip)
}

/** How this run reaches the lab resource locks, when its recipe names any. */
export function runLockClient(
  compiled: CompiledRecipe,
  recorder: RunRecorder,
  address: { url: string; token: string } | undefined,
): LockClient | undefined {
  const { recipe, root } = compiled
  if (recipe.resources.length === 0 && !recipe.steps.some((step) => step.resources.length > 0)) return undefined
  if (address) return httpLockClient(address, join(root, recipe.file))
  // No Vitest process keeps the store: this file opened it, and keeps the leases itself.
  const locks = (recorder as Partial<OwnJournal>).locks
  return locks ? directLockClient(locks) : undefined
}

/**
 * Records the run's beginning: what it is, its step graph, its selection and what it resumed
 * from. A file that keeps the store itself has the run in the store when this resolves,
 * before its first step; a recorder that fails here is closed.
 */
export async function beginRecordedRun(
  recorder: RunRecorder,
  compiled: CompiledRecipe,
  runId: string,
  how: {
    selection: RunSelection | undefined
    restored: ResumeSnapshot | undefined
    vitest: string | undefined
    redactor?: Redactor
  },
): Promise<void> {
  const { recipe } = compiled
  // Vars are not secrets, but a value given from outside may hold one: it is masked like any output.
  const redact = <T extends JsonValue>(value: T): T => (how.redactor ? how.redactor.json(value) : value)
  const metadata: JsonObject = {
    test_meta: redact(recipe.testMeta as JsonObject),
    node: process.version,
    // What the step graph of the reports draws: each step's dependencies and whether it may run side by side.
    steps_graph: recipe.steps.map((step) => ({ step: step.name, needs: step.needs, parallel: step.parallel })),
  }
  // The values this run's vars took, and where each came from (cli, env, option, default).
  if (Object.keys(recipe.vars ?? {}).length > 0) {
    metadata.vars = redact(recipe.vars)
    metadata.vars_from = recipe.varsFrom
  }
  if (how.restored) metadata.resumed_from = how.restored.runId
  // A run of some steps only (-t): compared only with runs of the same selection (store/run-selection.ts).
  if (how.selection) metadata.selection = { selected: how.selection.selected, setup: how.selection.setup }
  recorder.beginRun({
    runId,
    testId: recipe.testMeta.test_id,
    recipe: recipe.file,
    startTime: new Date().toISOString(),
    vitestVersion: how.vitest ?? vitestVersion(),
    metadata,
  })
  try {
    await recorder.flush?.()
  } catch (error) {
    await Promise.resolve(recorder.close()).catch(() => undefined)
    throw error
  }
}

/** What the run's history recorded of each key, secrets redacted: its next write is recorded as a change of it. */
export class RunHistory {
  private readonly tracker: HistoryTracker
  private readonly redactor: Redactor

  constructor(redactor: Redactor) {
    this.redactor = redactor
    // Values are kept as the store keeps them (secrets as references), so a patch rebuilds the stored value.
    this.tracker = new HistoryTracker((value) => (redactor.active ? redactor.reference(value) : value))
  }

  /** Writes as the history records them: what each changed since the key's last recorded value, secrets as references. */
  track(writes: readonly ContextWrite[]): { writes: HistoryWrite[]; commit: () => void } {
    const recorded = this.tracker.track(writes)
    const redact = this.redactor
    // The writer's name is free text a scriptlet or an API caller chose: a secret can be in it.
    if (redact.active) for (const write of recorded.writes) write.who = redact.text(write.who)
    return recorded
  }

  /** The current values of the keys written since the last record (undefined: deleted), secrets as references. */
  dirtyValues(ctx: Context): [string, JsonValue | undefined][] {
    const redact = this.redactor
    const dirty = ctx.takeDirty()
    if (dirty.length === 0) return []
    return dirty.map((key) => {
      const value = ctx.get(key)
      return [key, value === undefined ? undefined : redact.reference(value)]
    })
  }
}

function vitestVersion(): string {
  try {
    return (createRequire(import.meta.url)('vitest/package.json') as { version: string }).version
  } catch {
    return 'unknown'
  }
}
