import type { JsonObject } from '../context/json-value.ts'
import type { RunStore } from './run-store.ts'
import { restoreSecrets } from './secret-references.ts'

export interface ResumeSnapshot {
  /** The run the context comes from. */
  runId: string
  /** The context at the end of the step before the one resumed from. */
  values: JsonObject
  /**
   * The restored writes, in order, to record in the new run (so it can be resumed too); those
   * of the context API belong to no step, and a write that deleted its key has no value.
   */
  writes: { step: string | null; key: string; value: JsonObject[string] | undefined; who: string; ts: string }[]
}

/**
 * The context as the last run of `recipe` left it when `stepBefore` ended, or a sentence
 * saying why there is none. `stepBefore` undefined: resuming from the first step.
 */
export function loadResumeSnapshot(
  store: RunStore,
  recipe: string,
  stepBefore: string | undefined,
  exceptRunId?: string,
  env: NodeJS.ProcessEnv = process.env,
): ResumeSnapshot | string {
  if (stepBefore === undefined) return { runId: 'none', values: {}, writes: [] }
  const last = store.lastRun(recipe, exceptRunId)
  if (!last) return `no earlier run of ${recipe} is recorded in ${store.path}; run the recipe once before resuming it`
  const stepSeq = store.stepSequence(last.runId, stepBefore)
  if (stepSeq === undefined)
    return `the last run of ${recipe} (${last.runId}) did not reach step "${stepBefore}", so there is no context to resume from`
  // Secrets are kept as references (secret-references.ts): the environment gives them back.
  const writes = []
  for (const write of store.writesUpTo(last.runId, stepSeq)) {
    if (write.value === undefined) {
      writes.push(write)
      continue
    }
    const restored = restoreSecrets(write.value, env)
    if ('missing' in restored)
      return `ctx key ${write.key} of run ${last.runId} cannot be restored: ${restored.missing}`
    writes.push({ ...write, value: restored.value })
  }
  const values: JsonObject = {}
  for (const write of writes) {
    if (write.value === undefined) delete values[write.key]
    else values[write.key] = write.value
  }
  return { runId: last.runId, values, writes }
}
