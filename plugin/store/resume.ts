import type { JsonObject } from '../context/json-value.ts'
import type { RunStore } from './run-store.ts'
import { DERIVED_SECRET, restoreSecretReferences } from './secret-references.ts'

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
  /**
   * Keys whose value cannot be restored (a value derived from a secret at run time, or the
   * secret of a variable that is not set): `values` holds the stored reference (`***{derived}`).
   * Resuming is refused only when a step that will run reads one (`refuseUnrestorableReads`).
   */
  unrestorable?: UnrestorableKey[]
}

/** A key of the snapshot whose value the store could not give back. */
export interface UnrestorableKey {
  key: string
  /** The step that wrote it (null: the ctx API, outside any step). */
  step: string | null
  /** The environment variable whose secret it holds, or `derived`. */
  source: string
}

/** A step that will run after the resume and the keys it reads; undefined: it does not declare them. */
export interface ResumeReader {
  step: string
  reads: readonly string[] | undefined
}

/**
 * The context as the last run of `recipe` left it when `stepBefore` ended, or a sentence
 * saying why there is none. `stepBefore` undefined: resuming from the first step.
 */
export async function loadResumeSnapshot(
  store: RunStore,
  recipe: string,
  stepBefore: string | undefined,
  exceptRunId?: string,
  env: NodeJS.ProcessEnv = process.env,
  given: Readonly<Record<string, string | number | boolean>> = {},
  mask: (text: string) => string = (text) => text,
): Promise<ResumeSnapshot | string> {
  if (stepBefore === undefined) return { runId: 'none', values: {}, writes: [] }
  // Its values as the store keeps a run's vars: text, a secret masked (a secret combination finds its own
  // runs, and the message names none).
  const combination = Object.fromEntries(Object.entries(given).map(([name, value]) => [name, mask(String(value))]))
  // A matrix combination resumes from its own last run.
  const last = await store.lastRun(recipe, exceptRunId, combination)
  const which = Object.keys(combination).length
    ? `${recipe} with ${Object.entries(combination)
        .map(([name, value]) => `${name}=${value}`)
        .join(', ')}`
    : recipe
  if (!last) return `no earlier run of ${which} is recorded in ${store.path}; run the recipe once before resuming it`
  const stepSeq = await store.stepSequence(last.runId, stepBefore)
  if (stepSeq === undefined)
    return `the last run of ${which} (${last.runId}) did not reach step "${stepBefore}", so there is no context to resume from`
  // Secrets are kept as references (secret-references.ts): the environment gives them back.
  const writes: ResumeSnapshot['writes'] = []
  const lost = new Map<string, UnrestorableKey>()
  for (const write of await store.writesUpTo(last.runId, stepSeq)) {
    lost.delete(write.key)
    if (write.value === undefined) {
      writes.push(write)
      continue
    }
    const restored = restoreSecretReferences(write.value, env)
    // Kept as the store has it: what matters is whether a step that will run reads the key.
    if ('missing' in restored) lost.set(write.key, { key: write.key, step: write.step, source: restored.source })
    writes.push('missing' in restored ? write : { ...write, value: restored.value })
  }
  const values: JsonObject = {}
  for (const write of writes) {
    if (write.value === undefined) delete values[write.key]
    else values[write.key] = write.value
  }
  const snapshot: ResumeSnapshot = { runId: last.runId, values, writes }
  if (lost.size > 0) snapshot.unrestorable = [...lost.values()]
  return snapshot
}

/**
 * Why the resume cannot go ahead, or undefined: a key of the snapshot that cannot be restored
 * is read by a step that will run (`readers`), or may be, by a step that does not declare what
 * it reads. The sentence names the key, the step and what to do.
 */
export function refuseUnrestorableReads(
  snapshot: ResumeSnapshot,
  readers: readonly ResumeReader[],
): string | undefined {
  for (const lost of snapshot.unrestorable ?? []) {
    const reader =
      readers.find((candidate) => candidate.reads?.includes(lost.key)) ??
      readers.find((candidate) => candidate.reads === undefined)
    if (!reader) continue
    const derived = lost.source === DERIVED_SECRET
    const why = derived
      ? 'holds a value derived from a secret at run time (tools.secret or ::add-mask::), which the store never keeps'
      : `holds the secret of the environment variable ${lost.source}, which is not set`
    const fix = !derived
      ? `set ${lost.source} and resume again`
      : lost.step === null
        ? 'run the whole recipe again (the value was written through the ctx API, outside any step)'
        : `resume from "${lost.step}" (the step that wrote it) or an earlier step`
    const subject = `ctx key ${lost.key} of run ${snapshot.runId} ${why}, and step "${reader.step}", which will run,`
    if (reader.reads !== undefined) return `${subject} reads it: ${fix}`
    return `${subject} does not declare what it reads, so it may read it: ${fix}; or declare its reads (\`reads\` of a TypeScript scriptlet, a \`# READS:\` header line of a shell or Python scriptlet) so only the steps that read the key stop a resume`
  }
  return undefined
}
