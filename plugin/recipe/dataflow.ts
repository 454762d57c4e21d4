import { type DeclaredKey, resolveDeclaredKeys, type ScriptletDeclaration } from './declarations.ts'
import type { RecipeIssue } from './errors.ts'
import type { Recipe, RecipeStep } from './types.ts'

export interface DataflowReport {
  issues: RecipeIssue[]
  /** Steps whose scriptlets do not declare what they read: their reads are not checked. */
  unchecked: string[]
  /** Declared keys that name a parameter the step does not give (`{src_key}`), by step. */
  unresolved: { step: string; entries: string[] }[]
}

/** What the runner itself writes with `step_metrics: true` (the older runner_v2's key). */
const RUNNER_STEP_METRICS = '_runner.step_metrics_v1'

/**
 * Checks what the steps of a recipe read against what the steps they depend on write,
 * before anything runs:
 * - a step reads a key that no step it depends on (directly or through others) writes;
 * - a step reads a key another step writes without depending on it (they may run at the same
 *   time; `-t` on the reader runs it without the writer);
 * - two steps write one key with no order between them (unless `conflicts: last_write_wins`).
 * A step that expects an error is a deliberate negative test and is not checked as a reader.
 * Where a scriptlet declares nothing, nothing is guessed: the step is listed as unchecked.
 */
export function checkDataflow(
  recipe: Pick<Recipe, 'steps' | 'conflicts'> & Partial<Pick<Recipe, 'stepMetrics'>>,
  declarations: ReadonlyMap<string, ScriptletDeclaration | undefined>,
): DataflowReport {
  const report: DataflowReport = { issues: [], unchecked: [], unresolved: [] }
  const steps = new Map(recipe.steps.map((step) => [step.name, step]))
  const writes = new Map<string, Set<string>>()
  const reads = new Map<string, DeclaredKey[]>()
  const writersOf = new Map<string, string[]>()
  for (const step of recipe.steps) {
    const declaration = declarations.get(step.name)
    if (declaration?.reads === undefined) report.unchecked.push(step.name)
    const declaredParams = declaration?.params
    const outputs = resolveDeclaredKeys(declaration?.outputs ?? [], step.params, declaredParams)
    const read = resolveDeclaredKeys(declaration?.reads ?? [], step.params, declaredParams)
    const unresolved = [...outputs.unresolved, ...read.unresolved]
    if (unresolved.length > 0) report.unresolved.push({ step: step.name, entries: unresolved })
    const written = new Set([...outputs.keys.map((item) => item.key), ...Object.keys(step.save)])
    writes.set(step.name, written)
    reads.set(step.name, read.keys)
    for (const key of written) writersOf.set(key, [...(writersOf.get(key) ?? []), step.name])
  }

  // Steps are in execution order: a step's ancestors all come before it, so a search for one
  // stops at steps earlier than the target. No set of ancestors per step (quadratic on chains).
  const order = new Map(recipe.steps.map((step, i) => [step.name, i]))
  const dependsOn = (from: string, target: string): boolean => {
    const floor = order.get(target)!
    const seen = new Set<string>()
    const stack = [...(steps.get(from)?.needs ?? [])]
    while (stack.length > 0) {
      const next = stack.pop()!
      if (next === target) return true
      if (seen.has(next) || order.get(next)! < floor) continue
      seen.add(next)
      stack.push(...(steps.get(next)?.needs ?? []))
    }
    return false
  }
  // Whether some step a step depends on does not declare its outputs (it may write anything).
  const unknownWriterBefore = new Map<string, boolean>()
  for (const step of recipe.steps)
    unknownWriterBefore.set(
      step.name,
      step.needs.some((need) => declarations.get(need)?.outputs === undefined || unknownWriterBefore.get(need)),
    )

  for (const reader of recipe.steps) {
    if (reader.expect.status === 'error') continue
    const declaration = declarations.get(reader.name)
    for (const { key, optional } of reads.get(reader.name) ?? []) {
      if (writes.get(reader.name)?.has(key)) continue
      if (key === RUNNER_STEP_METRICS) {
        if (recipe.stepMetrics || optional) continue
        report.issues.push(
          dataflowIssue(
            reader,
            `step "${reader.name}" reads "${key}", which the runner writes only for a recipe with step_metrics: true`,
            'Add `step_metrics: true` to the recipe (top level).',
          ),
        )
        continue
      }
      const writers = (writersOf.get(key) ?? []).filter((name) => name !== reader.name)
      if (writers.some((name) => dependsOn(reader.name, name))) continue
      const where = `${declaration!.file}${declaration!.lines.reads ? `:${declaration!.lines.reads}` : ''}`
      if (writers.length > 0) {
        const writer = writers[0]!
        const after = dependsOn(writer, reader.name)
        const together = !after && reader.parallel && steps.get(writer)!.parallel
        if (optional && !together) continue
        report.issues.push(
          dataflowIssue(
            reader,
            after
              ? `step "${reader.name}" reads "${key}", which "${writer}" writes only after it ("${writer}" depends on "${reader.name}")`
              : together
                ? `step "${reader.name}" reads "${key}", which "${writer}" writes, and the two may run at the same time (parallel, no depends_on between them)`
                : `step "${reader.name}" reads "${key}", which "${writer}" writes, but it does not depend on "${writer}": run alone (-t ${reader.name}) it would not find the key`,
            after
              ? `Reorder the steps so "${writer}" comes first and add it to depends_on of "${reader.name}"; the read is declared at ${where}.`
              : `Add "${writer}" to depends_on of "${reader.name}"; the read is declared at ${where}.`,
          ),
        )
        continue
      }
      if (optional) continue
      // A step before it that declares no outputs may write the key: say nothing rather than guess.
      if (unknownWriterBefore.get(reader.name)) continue
      report.issues.push(
        dataflowIssue(
          reader,
          `step "${reader.name}" reads "${key}", which no step it depends on writes`,
          `Add the step that writes "${key}" to its depends_on, or mark the read optional ("${key}?") at ${where} if the scriptlet copes without it (a key set from outside the recipe).`,
        ),
      )
    }
  }

  if (recipe.conflicts !== 'last_write_wins') {
    for (const [key, writers] of writersOf) {
      for (let i = 1; i < writers.length; i++) {
        for (let j = 0; j < i; j++) {
          const [first, second] = [writers[j]!, writers[i]!]
          if (dependsOn(second, first) || dependsOn(first, second)) continue
          report.issues.push(
            dataflowIssue(
              steps.get(second)!,
              `"${key}" is written by both "${first}" and "${second}", with no order between them: which value stays depends on timing`,
              `Make one depend on the other (depends_on), write different keys, or set conflicts: last_write_wins on the recipe.`,
            ),
          )
        }
      }
    }
  }
  return report
}

function dataflowIssue(step: RecipeStep, message: string, hint: string): RecipeIssue {
  return {
    code: 'RECIPE_DATAFLOW',
    message,
    path: `steps[${step.index}]`,
    location: step.locations.step,
    hint,
  }
}

/**
 * The steps a `--resume-from` the step at `fromIndex` runs (from it on, less the `skip`ped) and
 * the keys each reads as far as the recipe can tell: what its scriptlet declares (resolved
 * against its args) and the keys its success checks compare (`ctx_equals`, `ctx_matches`).
 * `reads` is undefined for a step whose scriptlet does not declare its reads, or names one
 * through a parameter its args do not give: it may read any key.
 */
export function resumeReaders(
  recipe: Pick<Recipe, 'steps'>,
  declarations: ReadonlyMap<string, ScriptletDeclaration | undefined>,
  fromIndex: number,
  skip: readonly string[],
): { step: string; reads: string[] | undefined }[] {
  const running = recipe.steps.slice(fromIndex).filter((step) => !skip.includes(step.name))
  return running.map((step) => {
    const declaration = declarations.get(step.name)
    if (declaration?.reads === undefined) return { step: step.name, reads: undefined }
    const { keys, unresolved } = resolveDeclaredKeys(declaration.reads, step.params, declaration.params)
    if (unresolved.length > 0) return { step: step.name, reads: undefined }
    const checked = [...Object.keys(step.success.ctx_equals ?? {}), ...Object.keys(step.success.ctx_matches ?? {})]
    return { step: step.name, reads: [...new Set([...keys.map((item) => item.key), ...checked])] }
  })
}

/** The one line that says which steps were not checked, or nothing when all were. */
export function uncheckedNote(file: string, report: DataflowReport): string | undefined {
  const notes: string[] = []
  if (report.unchecked.length > 0)
    notes.push(
      `dataflow unchecked for ${report.unchecked.length} step(s) whose scriptlets do not declare what they read: ${report.unchecked.join(', ')}`,
    )
  for (const { step, entries } of report.unresolved)
    notes.push(`step "${step}" declares ${entries.join(', ')}, which its args do not name: not checked`)
  return notes.length === 0 ? undefined : `${file}: ${notes.join('; ')}`
}
