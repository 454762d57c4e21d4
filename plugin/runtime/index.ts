/** `vitest-recipes/runtime`: what compiled recipe modules import. */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { maskIssues, RecipeError, type RecipeIssue, sortIssues } from '../recipe/errors.ts'
import { combinationRunNames } from '../recipe/matrix.ts'
import { normalizeRecipeText } from '../recipe/recipe-lines.ts'
import { exportNotFound, preflightRecipe } from '../recipe/preflight.ts'
import type { Scriptlet } from '../scriptlet/define.ts'
import { resolveScriptlet } from '../scriptlet/invoke.ts'
import { createRedactor, parseSecretNames } from './redact.ts'
import { createRunId, type CompiledRecipe, type DraftCheck, type ScriptletModules } from './spec.ts'
import { RecipeRun } from './recipe-run.ts'

export { RecipeRun } from './recipe-run.ts'
export type { StepTestContext } from './recipe-run.ts'
export { recipeStepMeta } from './meta.ts'
export type { AttemptRecord, RecipeStepMeta, RecipeTaskMeta, StepStatus } from './meta.ts'
export type { CompiledRecipe, DraftCheck, ScriptletModules } from './spec.ts'

/**
 * Sets up a recipe's test file: checks that every step's scriptlet export exists (a
 * missing one fails the whole file, pointing at its YAML line) and returns the file's
 * step runner, which holds the recipe's shared context for as long as the file runs.
 *
 * The runner lives in the module rather than in a `test.extend` file fixture: the module
 * is already file-scoped, and fixture resolution measured ~60 µs per step in
 * `bench/overhead` (tests-only ratio 2.2x vs 1.4x against a hand-written file).
 */
export function defineRecipe(compiled: CompiledRecipe, modules: ScriptletModules): RecipeRun {
  const scriptlets = resolveStepScriptlets(compiled, modules)
  checkBeforeRun(compiled, scriptlets)
  const { file, combination } = compiled.recipe
  // The compiler names each combination; a spec without the name is named here, its secrets masked all the same.
  const name =
    compiled.runName ??
    (combination && combinationRunNames([combination], secretMask(compiled.recipe, compiled.secrets))[0])
  return new RecipeRun(compiled, scriptlets, createRunId(file, new Date(), undefined, name))
}

/**
 * The combinations of a matrix recipe run side by side no more than `parallel` at a time:
 * each combination's group enters before its first step and leaves once its run has ended.
 */
export function defineMatrix(parallel: number): {
  enter(): Promise<void>
  leave(finished: Promise<void>): Promise<void>
} {
  let running = 0
  const waiting: (() => void)[] = []
  return {
    async enter() {
      if (running < parallel) {
        running++
        return
      }
      // The slot is handed over by the combination that leaves.
      await new Promise<void>((resolve) => waiting.push(resolve))
    },
    async leave(finished) {
      try {
        await finished
      } finally {
        const next = waiting.shift()
        if (next) next()
        else running--
      }
    },
  }
}

/**
 * Args against each scriptlet's parameters and reads against what earlier steps write
 * (`preflightRecipe`): a problem fails the whole file before any step runs, at its YAML line.
 */
function checkBeforeRun(compiled: CompiledRecipe, scriptlets: Map<string, Scriptlet>): void {
  const modules = new Map<string, string>()
  for (const step of compiled.recipe.steps)
    if (step.type === 'ts' && step.module !== undefined) modules.set(step.module, resolve(compiled.root, step.module))
  const { issues } = preflightRecipe({
    recipe: compiled.recipe,
    root: compiled.root,
    pythonPath: compiled.python.path,
    scriptlets,
    modules,
  })
  if (issues.length > 0)
    throw new RecipeError(
      maskIssues(
        withSourceLines(issues, join(compiled.root, compiled.recipe.file)),
        secretMask(compiled.recipe, compiled.secrets),
      ),
    )
}

/** The compiled spec carries no source lines (they would weigh on every module): read them for the code frames. */
function withSourceLines(issues: RecipeIssue[], file: string): RecipeIssue[] {
  let lines: string[]
  try {
    lines = normalizeRecipeText(readFileSync(file, 'utf8')).split('\n')
  } catch {
    return issues
  }
  return issues.map((issue) =>
    issue.location && issue.location.sourceLine === undefined && lines[issue.location.line - 1] !== undefined
      ? { ...issue, location: { ...issue.location, sourceLine: lines[issue.location.line - 1]!.replace(/\r$/, '') } }
      : issue,
  )
}

/** Imported by the module of a recipe that failed to compile: fails the file with its errors. */
export function failRecipe(issues: RecipeIssue[]): never {
  throw new RecipeError(issues)
}

/**
 * Imported by the module of a recipe that failed to compile but has a draft: loads the
 * scriptlets of its steps (`loaders`, by module), checks the draft against them as a sound
 * recipe is checked before it runs (`checkBeforeRun`), and fails the file with every problem.
 */
export async function failRecipeAfterChecks(
  issues: RecipeIssue[],
  draft: DraftCheck,
  loaders: Record<string, () => Promise<Record<string, unknown>>>,
): Promise<never> {
  const refused = new Set(draft.refused)
  const scriptlets = new Map<string, Scriptlet>()
  const modules = new Map<string, string>()
  const found: RecipeIssue[] = []
  for (const step of draft.recipe.steps) {
    const load = step.module === undefined ? undefined : loaders[step.module]
    if (step.type !== 'ts' || step.module === undefined || !load || refused.has(step.name)) continue
    modules.set(step.module, resolve(draft.root, step.module))
    let resolved: Scriptlet | string
    try {
      resolved = resolveScriptlet(await load(), step.export)
    } catch (error) {
      resolved = `could not load ${step.module}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`
    }
    if (typeof resolved === 'string') found.push(exportNotFound(step, resolved))
    else scriptlets.set(step.name, resolved)
  }
  const checked = preflightRecipe({
    recipe: draft.recipe,
    root: draft.root,
    pythonPath: draft.pythonPath,
    scriptlets,
    modules,
  })
  throw new RecipeError(
    maskIssues(sortIssues([...issues, ...found, ...checked.issues]), secretMask(draft.recipe, draft.secrets ?? [])),
  )
}

/** Masks the secrets of a recipe (its `secrets:`, the project's, names that look secret) in text. */
function secretMask(
  recipe: { secrets: readonly string[] },
  projectSecrets: readonly string[],
): (text: string) => string {
  return createRedactor([...recipe.secrets, ...parseSecretNames(projectSecrets)]).text
}

function resolveStepScriptlets(compiled: CompiledRecipe, modules: ScriptletModules): Map<string, Scriptlet> {
  const scriptlets = new Map<string, Scriptlet>()
  const issues: RecipeIssue[] = []
  for (const step of compiled.recipe.steps) {
    if (step.type !== 'ts' || step.module === undefined) continue
    const namespace = modules[step.module]
    const resolved = namespace ? resolveScriptlet(namespace, step.export) : `module "${step.module}" was not loaded`
    if (typeof resolved !== 'string') {
      scriptlets.set(step.name, resolved)
      continue
    }
    issues.push(exportNotFound(step, resolved))
  }
  if (issues.length > 0) throw new RecipeError(issues)
  return scriptlets
}
