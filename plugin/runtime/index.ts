/** `vitest-recipes/runtime`: what compiled recipe modules import. */
import { test as baseTest } from 'vitest'
import { RecipeError, type RecipeIssue } from '../recipe/errors.ts'
import type { Scriptlet } from '../scriptlet/define.ts'
import { resolveScriptlet } from '../scriptlet/invoke.ts'
import type { CompiledRecipe, ScriptletModules } from './spec.ts'
import { RecipeRun } from './step-runner.ts'

export { RecipeRun } from './step-runner.ts'
export type { StepTestContext } from './step-runner.ts'
export type { AttemptRecord, RecipeStepMeta, StepStatus } from './meta.ts'
export type { CompiledRecipe, ScriptletModules } from './spec.ts'

/**
 * Sets up a recipe's test file: checks that every step's scriptlet export exists (a
 * missing one fails the whole file, pointing at its YAML line) and returns a `test` whose
 * file-scoped `recipe` fixture holds the shared context and the step runner.
 */
export function defineRecipe(compiled: CompiledRecipe, modules: ScriptletModules) {
  const scriptlets = resolveStepScriptlets(compiled, modules)
  const test = baseTest.extend<{ recipe: RecipeRun }>({
    recipe: [
      // eslint-disable-next-line no-empty-pattern -- Vitest reads fixture dependencies from the destructuring pattern
      async ({}, use) => {
        await use(new RecipeRun(compiled, scriptlets))
      },
      { scope: 'file' },
    ],
  })
  return { test }
}

/** Imported by the module of a recipe that failed to compile: fails the file with its errors. */
export function failRecipe(issues: RecipeIssue[]): never {
  throw new RecipeError(issues)
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
    const issue: RecipeIssue = {
      code: 'RECIPE_EXPORT_NOT_FOUND',
      message: `step "${step.name}": ${resolved}`,
      path: `steps[${step.index}].${step.locations.exportKey ?? 'module'}`,
      hint: step.export === undefined ? 'Add `function: <ExportName>` (or `class:`) to the step, or give the module a default export.' : 'Fix the export name in the recipe or in the module.',
    }
    const location = step.locations.export ?? step.locations.module
    if (location) issue.location = location
    issues.push(issue)
  }
  if (issues.length > 0) throw new RecipeError(issues)
  return scriptlets
}
