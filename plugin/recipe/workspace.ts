import { existsSync, readdirSync, realpathSync } from 'node:fs'
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path'
import { didYouMean } from './did-you-mean.ts'
import type { RecipeIssue } from './errors.ts'
import type { Recipe } from './types.ts'

/** Is `target` inside `root` (or `root` itself)? Both absolute. */
export function isInside(root: string, target: string): boolean {
  const rel = relative(root, target)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

/**
 * Resolves each ts step's `module` to a file inside the project root, following symlinks.
 * Returns the absolute paths by module string, and an issue for each one that is missing
 * or lies outside the workspace.
 */
export function resolveScriptletModules(recipe: Recipe, root: string): { modules: Map<string, string>; issues: RecipeIssue[] } {
  const modules = new Map<string, string>()
  const issues: RecipeIssue[] = []
  const realRoot = realpathSync(root)
  recipe.steps.forEach((step) => {
    if (step.type !== 'ts' || step.module === undefined || modules.has(step.module)) return
    const location = step.locations.module ?? step.locations.step
    const path = `steps[${step.index}].module`
    const absolute = resolve(root, step.module)
    if (isAbsolute(step.module) || !isInside(root, absolute)) {
      issues.push({
        code: 'RECIPE_PATH_OUTSIDE_WORKSPACE',
        message: `module "${step.module}" resolves outside the project root`,
        path,
        location,
        hint: 'Scriptlets load only from inside the workspace: give a path relative to the project root, without "..".',
      })
      return
    }
    if (!existsSync(absolute)) {
      const suggestion = siblingSuggestion(absolute)
      issues.push({
        code: 'RECIPE_MODULE_NOT_FOUND',
        message: `scriptlet module "${step.module}" does not exist`,
        path,
        location,
        hint: suggestion ? `Did you mean "${relative(root, suggestion).split(sep).join('/')}"?` : 'Paths are relative to the project root, for example scriptlets/steps/compute_mean.ts.',
      })
      return
    }
    if (!isInside(realRoot, realpathSync(absolute))) {
      issues.push({
        code: 'RECIPE_PATH_OUTSIDE_WORKSPACE',
        message: `module "${step.module}" is a symlink to a file outside the project root`,
        path,
        location,
        hint: 'Copy the scriptlet into the workspace instead of linking to it.',
      })
      return
    }
    modules.set(step.module, absolute)
  })
  return { modules, issues }
}

function siblingSuggestion(absolute: string): string | undefined {
  const dir = dirname(absolute)
  if (!existsSync(dir)) return undefined
  const name = absolute.slice(dir.length + 1)
  const match = didYouMean(name, readdirSync(dir))
  return match === undefined ? undefined : resolve(dir, match)
}
