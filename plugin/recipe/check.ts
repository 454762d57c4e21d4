import { type RecipeIssue, sortIssues } from './errors.ts'
import { combinationLabel } from './matrix.ts'
import { readRecipe } from './parse.ts'
import { pythonSearchPath } from './python-module.ts'
import type { Recipe } from './types.ts'
import { type VarSources, varSourcesOf } from './vars.ts'
import { resolveStepFiles } from './workspace.ts'

export interface RecipeCheckOptions {
  /** The plugin option python.path (folders relative to the root); PYTHONPATH is added to it. */
  pythonPath: readonly string[]
  /** PYTHONPATH as the steps will see it. @default process.env.PYTHONPATH */
  pythonPathEnv?: string
  /** Values of the recipe's vars given from outside. @default varSourcesOf(undefined, process.env) */
  vars?: VarSources
}

export interface CheckedRecipe {
  /** The recipe, when it has no problem. */
  recipe?: Recipe
  /**
   * A recipe with problems whose steps can still be checked against their scriptlets (args,
   * dataflow; see `RecipeReading.draft`), so that those problems come in the same round.
   */
  draft?: Recipe
  /** Steps of the draft whose scriptlet must not be loaded: its file or export is refused in `issues`. */
  refused: Set<string>
  /** Absolute path of each ts scriptlet module, by the recipe's `module` string. */
  modules: Map<string, string>
  /** Every problem of the file, in file order. */
  issues: RecipeIssue[]
  /** A matrix recipe without problems: the recipe read with each combination's values, in matrix order (`recipe` is the first). */
  combinations?: Recipe[]
  /** The names under `vars:`; undefined when the file could not be read as YAML. */
  declaredVars?: string[]
}

/**
 * Everything the compiler checks in a recipe, in one round: YAML, schema, names and
 * dependencies, and the files and names its steps use (every step that has a name and a type
 * is checked, whatever schema errors it or others have). `file` is the path shown in messages.
 * A recipe with problems still gets a `draft` when its steps can be checked against their
 * scriptlets, which the caller does (`preflightRecipe`) to report those problems too.
 */
export function checkRecipe(text: string, file: string, root: string, options: RecipeCheckOptions): CheckedRecipe {
  const reading = readRecipe(text, file, { vars: options.vars ?? varSourcesOf(undefined) })
  const searchPath = pythonSearchPath(options.pythonPath, root, options.pythonPathEnv ?? process.env.PYTHONPATH)
  const resolved = resolveStepFiles(reading.steps, root, { pythonPath: searchPath })
  // A module whose var reference was refused is not also reported missing.
  const fileIssues = resolved.issues.filter((issue) => !(issue.path && reading.silenced?.has(issue.path)))
  const issues = sortIssues([...reading.issues, ...fileIssues])
  const checked: CheckedRecipe = { modules: resolved.modules, issues, refused: resolved.refused }
  if (reading.declaredVars) checked.declaredVars = reading.declaredVars
  if (reading.recipe && issues.length === 0) {
    const combinations = readCombinations(text, file, reading.recipe, options.vars ?? varSourcesOf(undefined))
    if (Array.isArray(combinations)) {
      checked.recipe = reading.recipe
      if (combinations.length > 0) checked.combinations = combinations
      return checked
    }
    // Step files do not depend on vars: those of the first combination are those of every one.
    checked.issues = combinations.issues
    checked.draft = reading.recipe
    return checked
  } else if (reading.draft) checked.draft = reading.draft
  else if (reading.recipe) checked.draft = reading.recipe
  return checked
}

/**
 * A matrix recipe read with each combination's values (the first is `first`, read already);
 * the problems of the combinations that cannot be, each naming its combination. A recipe
 * without a matrix has none.
 */
export function readCombinations(
  text: string,
  file: string,
  first: Recipe,
  sources: VarSources,
): Recipe[] | { issues: RecipeIssue[] } {
  const matrix = first.matrix
  if (!matrix) return []
  const recipes = [first]
  const issues: RecipeIssue[] = []
  for (const combination of matrix.combinations.slice(1)) {
    const reading = readRecipe(text, file, { vars: { ...sources, matrix: combination } })
    if (reading.recipe && reading.issues.length === 0) recipes.push(reading.recipe)
    else
      issues.push(
        ...reading.issues.map((issue) => ({
          ...issue,
          message: `${issue.message} (combination ${combinationLabel(combination)})`,
        })),
      )
  }
  return issues.length > 0 ? { issues: sortIssues(issues) } : recipes
}
