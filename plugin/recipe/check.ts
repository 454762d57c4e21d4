import type { RecipeIssue } from './errors.ts'
import { readRecipe } from './parse.ts'
import { pythonSearchPath } from './python-module.ts'
import type { Recipe } from './types.ts'
import { resolveStepFiles } from './workspace.ts'

export interface RecipeCheckOptions {
  /** The plugin option python.path (folders relative to the root); PYTHONPATH is added to it. */
  pythonPath: readonly string[]
  /** PYTHONPATH as the steps will see it. @default process.env.PYTHONPATH */
  pythonPathEnv?: string
}

export interface CheckedRecipe {
  /** The recipe, when it has no problem. */
  recipe?: Recipe
  /** Absolute path of each ts scriptlet module, by the recipe's `module` string. */
  modules: Map<string, string>
  /** Every problem of the file, in file order. */
  issues: RecipeIssue[]
}

/**
 * Everything the compiler checks in a recipe, in one round: YAML, schema, names and
 * dependencies, and the files and names its steps use (the steps that passed the schema are
 * checked even when others did not). `file` is the path shown in messages.
 */
export function checkRecipe(text: string, file: string, root: string, options: RecipeCheckOptions): CheckedRecipe {
  const reading = readRecipe(text, file)
  const searchPath = pythonSearchPath(options.pythonPath, root, options.pythonPathEnv ?? process.env.PYTHONPATH)
  const resolved = resolveStepFiles(reading.steps, root, { pythonPath: searchPath })
  const issues = [...reading.issues, ...resolved.issues].sort(
    (a, b) =>
      (a.location?.line ?? 0) - (b.location?.line ?? 0) || (a.location?.column ?? 0) - (b.location?.column ?? 0),
  )
  const checked: CheckedRecipe = { modules: resolved.modules, issues }
  if (reading.recipe && issues.length === 0) checked.recipe = reading.recipe
  return checked
}
