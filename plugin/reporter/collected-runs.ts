import type { TestModule, Vitest } from 'vitest/node'
import { applyJsonPatch } from '../context/json-delta.ts'
import type { JsonValue } from '../context/json-value.ts'
import { type RecipeStepMeta, recipeStepMeta, runStatusOf, stepRowOf } from '../runtime/meta.ts'
import { historyWriteOf } from '../store/history-delta.ts'
import type { RunStatus, RunStore } from '../store/run-store.ts'
import { selectionOfSteps } from '../store/run-selection.ts'
import type { CombinationResult } from './matrix-summary.ts'

/**
 * The recipe runs as Vitest's finished test modules show them: each run's step metas (the
 * meta contract, runtime/meta.ts). At --merge-reports, the modules the blobs hold, and the
 * runs recorded on other machines (shards) stored from those metas, step by step.
 */

/**
 * At --merge-reports, the modules the blobs hold. Vitest 4.1 passes none to onTestRunEnd when the
 * shards ran in another folder than the merge (vitest#10347: runners that check the workspace
 * out at different paths); the merged state still has them.
 */
export function mergedModules(vitest: Vitest): ReadonlyArray<TestModule> {
  if (!vitest.config.mergeReports) return []
  const state = (vitest as unknown as { state?: { getTestModules?: () => TestModule[] } }).state
  return state?.getTestModules?.() ?? []
}

/** A matrix recipe's combinations as its module shows them (one group each, its steps' tests inside); none for another module. */
export function matrixCombinations(testModule: TestModule): CombinationResult[] {
  const combinations: CombinationResult[] = []
  for (const child of testModule.children) {
    if (child.type !== 'suite') return []
    const steps: RecipeStepMeta[] = []
    for (const test of child.children.allTests()) {
      const meta = recipeStepMeta(test.meta())
      if (meta) steps.push(meta)
    }
    combinations.push({ label: child.name, steps })
  }
  return combinations
}

/** A recipe run as the finished test modules show it: its step metas, and how many step tests its file has. */
export interface CollectedRun {
  steps: RecipeStepMeta[]
  tests: number
}

/**
 * The step metas of each recipe run, from the finished test modules; a test given twice (a
 * blob merged twice) counts once.
 */
export function collectRuns(testModules: ReadonlyArray<TestModule>): Map<string, CollectedRun> {
  const runs = new Map<string, CollectedRun>()
  const seen = new Set<string>()
  for (const module of testModules) {
    const tests = [...module.children.allTests()]
    for (const test of tests) {
      const meta = recipeStepMeta(test.meta())
      if (!meta || seen.has(`${meta.runId}\0${test.id}`)) continue
      seen.add(`${meta.runId}\0${test.id}`)
      // A matrix combination's run has the tests of its group; a recipe's, those of its file.
      const count = test.parent.type === 'suite' ? [...test.parent.children.allTests()].length : tests.length
      const run = runs.get(meta.runId) ?? { steps: [], tests: count }
      run.steps.push(meta)
      runs.set(meta.runId, run)
    }
  }
  return runs
}

/** A run recorded on another machine (a shard): stored from its tests' meta, step by step. */
export async function importRun(
  store: RunStore,
  runId: string,
  { steps, tests }: CollectedRun,
  vitestVersion: string,
): Promise<void> {
  const first = steps[0]!
  const ordered = [...steps].sort((a, b) => a.idx - b.idx)
  // A shard's run of some steps only (-t) stays a selection run: compared only with its like.
  const selection = selectionOfSteps(steps, tests)
  await store.beginRun({
    runId,
    testId: first.testId,
    recipe: first.recipe,
    startTime: runStartOf(runId),
    vitestVersion,
    metadata: {
      imported: 'merge-reports',
      ...(selection ? { selection: { ...selection } } : {}),
      // A matrix combination's (a device's) values: its analysis compares it with its own runs.
      ...(first.vars ? { vars: first.vars } : {}),
    },
  })
  // The metas carry what each write changed (blobs of older versions: whole values): replayed in order.
  const context = new Map<string, JsonValue>()
  for (const step of ordered) {
    const writes = step.writes.map(historyWriteOf)
    for (const write of writes) {
      const value = write.deleted
        ? undefined
        : write.patch
          ? applyJsonPatch(context.get(write.key), write.patch)
          : (write.value ?? null)
      if (value === undefined) context.delete(write.key)
      else context.set(write.key, value)
    }
    await store.recordStep(
      runId,
      stepRowOf(step),
      writes,
      writes.map((write) => [write.key, context.get(write.key)]),
    )
  }
  const status: RunStatus = runStatusOf(ordered.map((step) => step.status))
  await store.finishRun(runId, status)
}

/**
 * What the store missed of a run that ended, from its tests' meta: a step whose record the
 * journal refused (a disk that filled, a folder that became read-only) is stored as its test
 * reported it (failed, saying the store could not record it; or blocked, skipped behind it),
 * and a run whose end was refused too ends as its steps say instead of staying `running` or
 * being taken as `interrupted`. Nothing is replaced: rows the store has stay as they are. Runs
 * only some of whose tests reported (a worker that died) are left to the journal's rules.
 * Returns how many step rows it added.
 */
export async function recordMissedSteps(
  store: RunStore,
  runId: string,
  { steps, tests }: CollectedRun,
): Promise<number> {
  const recorded = await store.recordedSteps(runId)
  if (!recorded || steps.length < tests) return 0
  const missed = [...steps].sort((a, b) => a.idx - b.idx).filter((step) => !recorded.steps.has(step.step))
  const unfinished = recorded.status === 'running' || (recorded.status === 'interrupted' && missed.length > 0)
  if (missed.length === 0 && !unfinished) return 0
  let seq = Math.max(0, ...recorded.steps.values())
  await store.writeLocked(async (tx) => {
    for (const step of missed)
      await store.storeJournalRecord(tx, runId, {
        kind: 'step',
        seq: ++seq,
        historySeq: 0,
        step: stepRowOf(step),
        writes: [],
        values: [],
      })
    if (unfinished)
      await store.storeJournalRecord(tx, runId, {
        kind: 'finish',
        status: runStatusOf(steps.map((step) => step.status)),
        endTime: endOf(steps),
      })
  })
  return missed.length
}

/** When the last of `steps` ended, as their metas say (now if none says). */
function endOf(steps: readonly RecipeStepMeta[]): string {
  const ends = steps
    .filter((step) => step.startTime !== undefined)
    .map((step) => Date.parse(step.startTime!) + step.durationMs)
    .filter(Number.isFinite)
  return new Date(ends.length > 0 ? Math.max(...ends) : Date.now()).toISOString()
}

/** Run ids start with their UTC start time (20261123T171002Z-…). */
function runStartOf(runId: string): string {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(runId)
  return match
    ? `${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}.000Z`
    : new Date().toISOString()
}
