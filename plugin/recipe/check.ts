import { type RecipeIssue, sortIssues } from './errors.ts'
import { type Combination, combinationIssues } from './matrix.ts'
import { type RecipeReading, readRecipe } from './parse.ts'
import { pythonSearchPath } from './python-module.ts'
import { recipePathIssue } from './recipe-text.ts'
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
  /**
   * A matrix recipe: the recipe read with each combination's values, in matrix order (the
   * first is `recipe`, or `draft`). Without problems, every combination; with problems, each
   * that could be read (a draft when it has problems), for checking them against their scriptlets.
   */
  combinations?: Recipe[]
  /** The names under `vars:`; undefined when the file could not be read as YAML. */
  declaredVars?: string[]
  /** What a recipe that runs should still change (pyYamlBooleanWarnings), each `file:line:col CODE warning: ...`. */
  warnings?: string[]
}

/**
 * Everything the compiler checks in a recipe, in one round: YAML, schema, names and
 * dependencies, and the files and names its steps use (every step that has a name and a type
 * is checked, whatever schema errors it or others have). `file` is the path shown in messages.
 * A recipe with problems still gets a `draft` when its steps can be checked against their
 * scriptlets, which the caller does (`preflightRecipe`) to report those problems too.
 */
export function checkRecipe(text: string, file: string, root: string, options: RecipeCheckOptions): CheckedRecipe {
  const sources = options.vars ?? varSourcesOf(undefined)
  const reading = readRecipe(text, file, { vars: sources })
  const searchPath = pythonSearchPath(options.pythonPath, root, options.pythonPathEnv ?? process.env.PYTHONPATH)
  // Step files do not depend on vars: those of the first combination are those of every one.
  const resolved = resolveStepFiles(reading.steps, root, { pythonPath: searchPath })
  // A module whose var reference was refused is not also reported missing.
  const fileIssues = resolved.issues.filter((issue) => !(issue.path && reading.silenced?.has(issue.path)))
  const readings = readCombinations(text, file, reading, sources)
  const pathIssue = recipePathIssue(file)
  const issues = sortIssues([...(pathIssue ? [pathIssue] : []), ...combinationIssues(readings), ...fileIssues])
  const checked: CheckedRecipe = { modules: resolved.modules, issues, refused: resolved.refused }
  if (reading.declaredVars) checked.declaredVars = reading.declaredVars
  if (reading.matrix) {
    const recipes = readings.flatMap(({ recipe }) => (recipe ? [recipe] : []))
    if (recipes.length > 0) checked.combinations = recipes
  }
  if (reading.recipe && issues.length === 0) {
    checked.recipe = reading.recipe
    if (reading.warnings) checked.warnings = reading.warnings
  } else if (reading.draft ?? reading.recipe) checked.draft = (reading.draft ?? reading.recipe)!
  return checked
}

/**
 * Each combination of a matrix recipe read with its values (the first is `first`, read
 * already), with its problems and its recipe (its draft, when it has problems); a recipe
 * without a matrix is its one reading.
 */
export function readCombinations(
  text: string,
  file: string,
  first: RecipeReading,
  sources: VarSources,
): { combination: Combination | undefined; issues: RecipeIssue[]; recipe: Recipe | undefined }[] {
  const combinations = first.matrix?.combinations ?? []
  return [
    first,
    ...combinations
      .slice(1)
      .map((combination) => readRecipe(text, file, { vars: { ...sources, matrix: combination } })),
  ].map((reading, i) => ({
    combination: combinations[i],
    issues: reading.issues,
    recipe: reading.recipe && reading.issues.length === 0 ? reading.recipe : reading.draft,
  }))
}
