import { existsSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { recipeFiles } from '../compile/recipe-tags.ts'
import { DEFAULT_DB, DEFAULT_PYTHON_PATH, DEFAULT_RECIPE_GLOBS, type RecipesOptions } from '../compile/options.ts'
import { checkRecipe } from '../recipe/check.ts'
import { varSourcesOf } from '../recipe/vars.ts'
import type { RecipeIssue } from '../recipe/errors.ts'
import type { Recipe } from '../recipe/types.ts'
import { RunStore } from '../store/run-store.ts'
import { loadPluginOptions } from './config.ts'
import { readFileSync } from 'node:fs'
import { projectPath } from '../recipe/project-path.ts'
import { didYouMean } from '../recipe/did-you-mean.ts'
import { UsageError } from './args.ts'

/** The project as the CLI sees it: its root and the plugin options of its vitest.config. */
export interface Project {
  root: string
  options: RecipesOptions
}

/**
 * Reads the plugin options from the project's Vitest config (the defaults when there is no
 * config file). A config that fails to load throws a ConfigError: exit 3, never the defaults.
 */
export async function loadProject(cwd: string): Promise<Project> {
  return loadPluginOptions(cwd)
}

/**
 * Recipe files (relative to the root) under `filters` (files or folders; all recipes when
 * empty). A filter that names no recipe is a UsageError: a misspelt path must not pass as
 * "nothing to do".
 */
export function findRecipeFiles(project: Project, filters: readonly string[] = []): string[] {
  // The folders the globs start in, symlinks followed, as Vitest's globs find them.
  const found = recipeFiles(project.root, project.options.include ?? DEFAULT_RECIPE_GLOBS, project.options.exclude)
    .filter((path) => !basename(path).startsWith('.'))
    .map((path) => projectPath(project.root, path))
  const wanted = filters.map((filter) => projectPath(project.root, resolve(project.root, filter)))
  const under = (filter: string) => (file: string) => filter === '' || file === filter || file.startsWith(`${filter}/`)
  const missing = wanted.find((filter) => !found.some(under(filter)))
  if (missing !== undefined) throw noRecipeError(project, missing, found)
  return found.filter((file) => wanted.length === 0 || wanted.some((filter) => under(filter)(file)))
}

const LISTED_RECIPES = 5

/** Why `wanted` (relative to the root) names no recipe, with the closest recipe of the project. */
export function noRecipeError(project: Project, wanted: string, recipes = findRecipeFiles(project)): UsageError {
  const globs = (project.options.include ?? DEFAULT_RECIPE_GLOBS).join(', ')
  const path = join(project.root, wanted)
  if (existsSync(path))
    return new UsageError(
      `"${wanted}" ${statSync(path).isDirectory() ? 'holds no recipe file' : 'is not a recipe file'}: recipe files match ${globs} (the plugin option include)`,
    )
  const suggestion = didYouMean(wanted, recipes)
  const listed = recipes.slice(0, LISTED_RECIPES).join(', ') + (recipes.length > LISTED_RECIPES ? ', …' : '')
  const known = suggestion
    ? `; did you mean "${suggestion}"?`
    : recipes.length > 0
      ? ` (recipes of this project: ${listed})`
      : ` (this project has no recipe files yet: they match ${globs})`
  return new UsageError(`no recipe file at "${wanted}"${known}`)
}

export type LoadedRecipe = (
  | { file: string; recipe: Recipe; issues: RecipeIssue[]; draft?: undefined; refused?: undefined }
  | { file: string; recipe?: undefined; issues: RecipeIssue[]; draft?: Recipe; refused?: Set<string> }
) & {
  /** The names under `vars:`; undefined when the file could not be read as YAML. */
  declaredVars?: string[]
  /** A matrix recipe read with each combination's values (see `CheckedRecipe.combinations`). */
  combinations?: Recipe[]
  /** What the recipe should still change (see `CheckedRecipe.warnings`). */
  warnings?: string[]
}

/**
 * Parses a recipe and checks its files, as the compiler would; never throws for a bad recipe.
 * A bad recipe comes with its draft, when it has one (see `checkRecipe`).
 */
export function loadRecipe(project: Project, file: string): LoadedRecipe {
  const { recipe, issues, draft, refused, declaredVars, combinations, warnings } = checkRecipe(
    readFileSync(join(project.root, file), 'utf8'),
    file,
    project.root,
    { pythonPath: project.options.python?.path ?? DEFAULT_PYTHON_PATH, vars: varSourcesOf(project.options.vars) },
  )
  const declared = { ...(declaredVars ? { declaredVars } : {}), ...(combinations ? { combinations } : {}) }
  if (recipe) return { file, recipe, issues, ...declared, ...(warnings ? { warnings } : {}) }
  return draft ? { file, issues, draft, refused, ...declared } : { file, issues, ...declared }
}

/** Opens the project's run store (RECIPES_DB, else the plugin option db, else reports/results.sqlite). */
export function openStore(project: Project): Promise<RunStore> {
  return RunStore.openIn(project.root, project.options.db ?? DEFAULT_DB)
}

/** Runs `use` with the project's store open, and closes it. */
export async function withStore<T>(project: Project, use: (store: RunStore) => Promise<T>): Promise<T> {
  const store = await openStore(project)
  try {
    return await use(store)
  } finally {
    await store.close()
  }
}
