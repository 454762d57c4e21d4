import { existsSync, statSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { createFilter, type Plugin } from 'vite'
import { configDefaults } from 'vitest/config'
import { type CheckedRecipe, checkRecipe } from '../recipe/check.ts'
import { maskIssues } from '../recipe/errors.ts'
import { pythonSearchPath } from '../recipe/python-module.ts'
import { DEFAULT_STEP_TIMEOUT_SEC } from '../recipe/step-deadline.ts'
import { type FailingDraft, generateFailingModule, generateRecipeModule, type GeneratedModule } from './codegen.ts'
import { OWN_DIST, OWN_ENTRIES } from './own-entries.ts'
import { weakSecretWarning } from './recipe-warnings.ts'
import { recipeFiles, recipeTagDefinitions, undefinedTags, unnamableTags } from './recipe-tags.ts'
import { type CompiledRecipe, MAX_CONCURRENCY_KEY } from '../runtime/spec.ts'
import { createRedactor, serializeSecretNames } from '../runtime/redact.ts'
import type { Recipe } from '../recipe/types.ts'
import { DEFAULT_FORMATS, DEFAULT_REPORTS_DIR } from '../exporters/index.ts'
import { DEFAULT_ALLURE_RESULTS_DIR } from '../exporters/allure-folder.ts'
import { projectPath } from '../recipe/project-path.ts'
import { recipePathIssue } from '../recipe/recipe-text.ts'
import { stepFiles } from '../recipe/step-files.ts'
import { isInside } from '../recipe/workspace.ts'
import { varSourcesOf } from '../recipe/vars.ts'
import { combinationLabels, combinationRunNames, unusedGivenVars } from '../recipe/matrix.ts'
import { generateMatrixModule, type MatrixRun } from './matrix-codegen.ts'
import { hasMatrix, keepMatricesInEveryShard, type Shard } from './matrix-shard.ts'
import { StoreKeeper } from '../reporter/store-keeper.ts'
import {
  checkOptions,
  ctxServerOf,
  DEFAULT_DB,
  DEFAULT_PYTHON_PATH,
  DEFAULT_RECIPE_GLOBS,
  DEFAULT_RESOURCE_WAIT_SEC,
  type RecipesOptions,
} from './options.ts'

const REPORTER_NAME = 'vitest-recipes'
/** The note that this Vitest has no test tags is given once per process, however many projects carry the plugin. */
let warnedNoTags = false
/** Recipe files whose path Vitest cannot load, said once per process. */
const warnedPaths = new Set<string>()

/** What the plugin exposes to tools that resolve the Vitest config (the `recipes` CLI). */
export interface RecipesPluginApi {
  options: RecipesOptions
}

/** The Vitest plugin: compiles recipe files into test modules. `plugins: [recipes()]`. */
export function recipes(options: RecipesOptions = {}): Plugin {
  checkOptions(options)
  const include = options.include ?? DEFAULT_RECIPE_GLOBS
  let root = process.cwd()
  let isRecipe: (id: string) => boolean = () => false
  /** The tags Vitest defines when it rejects others (strict tags, Vitest 4.1+); undefined: any tag goes. */
  let vitestTags: Set<string> | undefined
  /** Vitest's --shard, when a matrix's combinations follow it (RECIPES_MATRIX_SHARD unset). */
  let vitestShard: Shard | undefined

  return {
    name: 'vitest-recipes',
    enforce: 'pre',
    // The `recipes` CLI reads the options from the resolved config (plan, list, validate).
    api: { options } satisfies RecipesPluginApi,
    config(config) {
      const test = (config.test ??= {})
      test.include = [...(test.include ?? configDefaults.include), ...include]
      // `vitest list --json` and reporters get each step's YAML line.
      test.includeTaskLocation ??= true
      // The recipes' tags are Vitest tags (Vitest >= 4.1): defined here, so strict tags accept
      // them, --tags-filter can name them and --list-tags shows the recipe each comes from.
      // A tag the config defines itself keeps its definition (its options, its description).
      const configRoot = resolve(config.root ?? process.cwd())
      const defined = (test as { tags?: { name: string }[] }).tags ?? []
      const own = recipeTagDefinitions(
        configRoot,
        include,
        options.exclude,
        varSourcesOf(options.vars),
        options.secrets,
      ).filter((tag) => !defined.some((other) => other.name === tag.name))
      if (own.length > 0) (test as { tags?: { name: string }[] }).tags = [...defined, ...own]
      if (OWN_DIST) {
        const deps = ((test.server ??= {}).deps ??= {})
        deps.external = [...(deps.external ?? []), new RegExp(OWN_DIST.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))]
      }
    },
    configResolved(config) {
      root = config.root
      isRecipe = createFilter(include, options.exclude, { resolve: root })
    },
    async configureVitest(context) {
      // Vitest 5 gives a project that extends the root config (`extends: true`) an include
      // resolved without this plugin's config hook: add the recipe globs to the project too.
      const project = (
        context as {
          project?: {
            config?: { include?: string[]; maxConcurrency?: number }
            provide?: (key: string, value: number) => void
          }
        }
      ).project
      const projectInclude = project?.config?.include
      if (projectInclude) for (const glob of include) if (!projectInclude.includes(glob)) projectInclude.push(glob)
      // Steps run as setup inside a selected step's test run side by side no more than its tests would.
      const maxConcurrency = project?.config?.maxConcurrency
      if (typeof maxConcurrency === 'number') project?.provide?.call(project, MAX_CONCURRENCY_KEY, maxConcurrency)
      const reporters = context.vitest.config.reporters as unknown[]
      // Under --shard, a matrix recipe (one file) runs in every shard, each its share of the
      // combinations; RECIPES_MATRIX_SHARD, when set, decides instead (and Vitest shards files as usual).
      const shard = (context.vitest.config as { shard?: Shard }).shard
      if (shard && process.env[MATRIX_SHARD_ENV] === undefined) {
        vitestShard = { index: shard.index, count: shard.count }
        const runStart = keepMatricesInEveryShard(
          context.vitest.config,
          (file) => isRecipe(stripQuery(file)) && hasMatrix(file),
          recipeFiles(root, include, options.exclude).some(hasMatrix),
        )
        if (runStart) reporters.push(runStart)
      }
      // The tags this project defines (the recipes' ones from the config hook, the config's own).
      const tagConfig = (context as { project?: { config?: { tags?: { name: string }[]; strictTags?: boolean } } })
        .project?.config
      if (Array.isArray(tagConfig?.tags) && tagConfig.strictTags !== false)
        vitestTags = new Set([...(vitestTags ?? []), ...tagConfig.tags.map((tag) => tag.name)])
      // A Vitest without test tags ignores the tags of the recipes' tests: said once.
      if (!Array.isArray((context.vitest.config as { tags?: unknown }).tags) && !warnedNoTags) {
        warnedNoTags = true
        console.warn(
          `vitest-recipes: this Vitest (${context.vitest.version}) has no test tags (Vitest 4.1+): recipe and step tags are not Vitest tags here, so --tags-filter and --list-tags do not see them`,
        )
      }
      // Vitest cannot load a recipe whose path holds # or ? (it fails as "Cannot find module"
      // before any transform): say why, once per file.
      for (const file of recipeFiles(root, include, options.exclude)) {
        const issue = recipePathIssue(projectPath(root, file))
        if (!issue || !/[#?]/.test(file.slice(root.length)) || warnedPaths.has(file)) continue
        warnedPaths.add(file)
        console.warn(`vitest-recipes: ${issue.location!.file}: ${issue.code}: ${issue.message}. ${issue.hint}`)
      }
      // The Vitest process keeps each store (recipe files journal their steps; it ingests them): one keeper per store.
      const db = options.db ?? DEFAULT_DB
      if (
        !reporters.some((reporter) => reporter instanceof StoreKeeper && reporter.db === db && reporter.root === root)
      )
        reporters.push(new StoreKeeper(root, db, (file) => isRecipe(stripQuery(file))))
      // One reporter per Vitest run, however many projects carry the plugin.
      // The reporter analyses every run; with reports: false it writes no document.
      const reports = options.reports
      const documents = reports === false ? undefined : reports
      const allure = options.allure
      if (
        !reporters.some(
          (reporter) => reporter instanceof Object && (reporter as { name?: string }).name === REPORTER_NAME,
        )
      ) {
        const { RecipesReporter } = await import('../reporter/index.ts')
        reporters.push(
          new RecipesReporter({
            db: options.db ?? DEFAULT_DB,
            dir: documents?.dir ?? DEFAULT_REPORTS_DIR,
            formats: reports === false ? [] : (documents?.formats ?? DEFAULT_FORMATS),
            ...(options.logsDir === undefined ? {} : { logsDir: options.logsDir }),
            ...(documents?.office === undefined ? {} : { office: documents.office }),
            ...(options.analysis ? { analysis: options.analysis } : {}),
            ...(allure
              ? {
                  allure: {
                    resultsDir: (allure === true ? undefined : allure.resultsDir) ?? DEFAULT_ALLURE_RESULTS_DIR,
                  },
                }
              : {}),
          }),
        )
      }
      // Recipes read other files (scriptlet paths, later included recipes) that a persistent
      // module cache cannot see: never cache them.
      type Define = (generator: (ctx: { id: string }) => false | undefined) => void
      // Vitest 5 names the hook defineCacheKeyGenerator (the experimental_ name is deprecated there).
      const hooks = context as { defineCacheKeyGenerator?: Define; experimental_defineCacheKeyGenerator?: Define }
      const define = hooks.defineCacheKeyGenerator ?? hooks.experimental_defineCacheKeyGenerator
      define?.(({ id }) => (isRecipe(stripQuery(id)) ? false : undefined))
    },
    resolveId(id) {
      const own = OWN_ENTRIES[id]
      if (own !== undefined) return own
      // A recipe is known by the path it was found at, not by a symlink's target: Vite would
      // resolve a symlinked recipe (file or folder) to its real path, which no recipe glob
      // matches (so it was parsed as JavaScript), and Vitest, which matches a test's stack
      // frames by the path it found, would lose every step's line.
      const file = stripQuery(id)
      for (const candidate of [file, join(root, file)])
        if (isAbsolute(candidate) && isRecipe(candidate) && isFileAt(candidate))
          return candidate + id.slice(file.length)
      return undefined
    },
    transform(source, id) {
      const file = stripQuery(id)
      if (!isRecipe(file)) return undefined
      const generated = compileRecipe(source, file, root, options, vitestTags, vitestShard)
      // Once per recipe file and run: Vitest transforms each recipe once (its cache is off for recipes).
      for (const warning of generated.warnings) console.warn(`vitest-recipes: ${warning}`)
      return { code: generated.code, map: generated.map }
    },
  }
}

/**
 * Compiles one recipe; a broken recipe compiles to a module that fails with its errors.
 * `warnings`: what the recipe should change but can run with (a weak secret).
 */
export function compileRecipe(
  source: string,
  file: string,
  root: string,
  options: RecipesOptions = {},
  vitestTags?: ReadonlySet<string>,
  vitestShard?: Shard,
): GeneratedModule & { warnings: string[] } {
  const displayPath = projectPath(root, file)
  const checked = checkRecipe(source, displayPath, root, {
    pythonPath: options.python?.path ?? DEFAULT_PYTHON_PATH,
    vars: varSourcesOf(options.vars),
  })
  const secrets = options.secrets ?? []
  if (!checked.recipe) {
    // A problem a value causes quotes it (and its combination's values): a secret's is masked.
    const mask = createRedactor([...(checked.draft?.secrets ?? []), ...secrets]).text
    return {
      ...generateFailingModule(file, source, maskIssues(checked.issues, mask), failingDraft(checked, root, options)),
      warnings: [],
    }
  }
  const warning = weakSecretWarning(checked.recipe, process.env, secrets)
  const warnings = [...(checked.warnings ?? []), ...(warning === undefined ? [] : [warning])]
  const compiledOf = (recipe: Recipe): CompiledRecipe => ({
    recipe,
    root,
    keyNaming: options.keyNaming ?? 'error',
    ctxValueMaxBytes: options.ctxValueMaxBytes,
    stepTimeoutSec: options.stepTimeout ?? DEFAULT_STEP_TIMEOUT_SEC,
    resourceWaitSec: recipe.resourceWaitSec ?? options.resources?.waitSec ?? DEFAULT_RESOURCE_WAIT_SEC,
    resourceHoldMaxSec: recipe.resourceHoldMaxSec ?? options.resources?.holdMaxSec,
    python: {
      executable: options.python?.executable ?? 'python3',
      path: (options.python?.path ?? DEFAULT_PYTHON_PATH).map((folder) => resolve(root, folder)),
    },
    logs: { dir: resolve(root, options.logsDir ?? 'Logs'), ram: options.ramLogs ?? false },
    debug: options.debug ?? false,
    // As given: the runtime locates it (RECIPES_DB first; a file relative to the root, or a PostgreSQL URL).
    db: options.db ?? DEFAULT_DB,
    ctxServer: ctxServerOf(options.ctxServer),
    secrets: serializeSecretNames(secrets),
  })
  // A tag a var gives a secret's value is kept masked (`***`): the run's label, never a Vitest tag (it cannot be one).
  const mask = createRedactor([...checked.recipe.secrets, ...secrets]).text
  const recipes = (checked.combinations ?? [checked.recipe]).map((recipe) => maskedTags(recipe, mask))
  const unnamable = unnamableTags(recipes)
  if (unnamable.length > 0) {
    const one = unnamable.length === 1
    warnings.push(
      `${displayPath}: the ${one ? 'tag' : 'tags'} ${unnamable.map((tag) => JSON.stringify(tag)).join(', ')} cannot be ${one ? 'a Vitest tag' : 'Vitest tags'} (a space, one of ! * & | ( ), or and, or, not): its steps' tests go without ${one ? 'it' : 'them'}; the run keeps ${one ? 'it as a label' : 'them as labels'}`,
    )
  }
  const unknownTags = vitestTags ? undefinedTags(recipes, vitestTags) : []
  if (unknownTags.length > 0)
    warnings.push(
      `${displayPath}: the ${unknownTags.length === 1 ? 'tag' : 'tags'} ${unknownTags.join(', ')} ${unknownTags.length === 1 ? 'is' : 'are'} not defined for Vitest yet (the plugin defines the recipes' tags when Vitest starts): its steps run without ${unknownTags.length === 1 ? 'it' : 'them'} until Vitest restarts`,
    )
  const compiled = compiledOf(recipes[0]!)
  const watched = watchedFiles(compiled)
  const matrix = checked.recipe.matrix
  if (matrix) {
    const shard = matrixShardOf(process.env[MATRIX_SHARD_ENV]) ?? vitestShard
    if (typeof shard === 'string')
      return { ...generateFailingModule(file, source, [{ code: 'RECIPE_MATRIX', message: shard }]), warnings }
    // A combination's values name its group of tests and its run: a secret among them is masked there.
    warnings.push(...unusedGivenVars(checked.recipe, varSourcesOf(options.vars)).map(mask))
    // Each combination is the recipe read with its values (checkRecipe read them all).
    const combinations = recipes.map((recipe) => recipe.combination ?? {})
    const labels = combinationLabels(combinations, mask)
    const runNames = combinationRunNames(combinations, mask)
    const runs: MatrixRun[] = recipes.map((recipe, index) => ({
      compiled: { ...(index === 0 ? compiled : compiledOf(recipe)), runName: runNames[index] },
      label: labels[index]!,
      skip: shard !== undefined && index % shard.count !== shard.index - 1,
    }))
    return {
      ...generateMatrixModule({
        runs,
        parallel: matrix.parallel,
        file,
        source,
        modules: checked.modules,
        watched,
        origin: matrixOrigin(source),
        vitestTags,
      }),
      warnings,
    }
  }
  return {
    ...generateRecipeModule({ compiled, file, source, modules: checked.modules, watched, vitestTags }),
    warnings,
  }
}

/** The recipe with its `test_meta.tags` masked (a tag holding a secret a var gave it). */
function maskedTags(recipe: Recipe, mask: (text: string) => string): Recipe {
  const tags = recipe.testMeta.tags.map(mask)
  if (tags.every((tag, i) => tag === recipe.testMeta.tags[i])) return recipe
  return { ...recipe, testMeta: { ...recipe.testMeta, tags } }
}

/** The line of the recipe's top-level `matrix:` key. */
function matrixOrigin(source: string): { line: number; column: number } | undefined {
  const index = source.split('\n').findIndex((line) => /^matrix\s*:/.test(line))
  return index === -1 ? undefined : { line: index + 1, column: 1 }
}

/**
 * Which combinations of matrix recipes this process runs: RECIPES_MATRIX_SHARD=i/n runs the
 * i-th of every n (1-based), so n processes (`vitest run` each, on one store) share a matrix;
 * Vitest's own --shard splits files, and a matrix is one file. A sentence when malformed.
 */
export function matrixShardOf(text: string | undefined): { index: number; count: number } | string | undefined {
  if (text === undefined || text.trim() === '') return undefined
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text)
  const index = Number(match?.[1])
  const count = Number(match?.[2])
  if (!match || count < 1 || index < 1 || index > count)
    return `${MATRIX_SHARD_ENV}=${JSON.stringify(text)} is not a shard: write i/n with 1 <= i <= n, such as 1/2`
  return { index, count }
}

export const MATRIX_SHARD_ENV = 'RECIPES_MATRIX_SHARD'

/** What the failing module of a recipe with problems checks against its scriptlets (its draft), if anything. */
function failingDraft(checked: CheckedRecipe, root: string, options: RecipesOptions): FailingDraft | undefined {
  const recipe = checked.draft
  if (!recipe) return undefined
  const modules = new Map<string, string>()
  for (const step of recipe.steps) {
    const absolute = step.module === undefined ? undefined : checked.modules.get(step.module)
    if (step.type === 'ts' && absolute !== undefined && !checked.refused.has(step.name))
      modules.set(step.module!, absolute)
  }
  const pythonPath = pythonSearchPath(options.python?.path ?? DEFAULT_PYTHON_PATH, root)
  return {
    draft: {
      recipe,
      root,
      pythonPath,
      refused: [...checked.refused],
      secrets: serializeSecretNames(options.secrets ?? []),
    },
    modules,
  }
}

/** The files besides ts modules whose change should re-run the recipe: its scripts and python modules, its cache inputs. */
function watchedFiles({ recipe, root, python }: CompiledRecipe): string[] {
  const scripts = stepFiles(recipe.steps, root, python.path)
    .filter((item) => item.type !== 'ts')
    .map((item) => item.file)
  const inputs = recipe.steps
    .flatMap((step) => step.cacheInputs)
    .map((input) => resolve(root, input))
    .filter((input) => isInside(root, input) && existsSync(input) && statSync(input).isFile())
  return [...new Set([...scripts, ...inputs])]
}

function isFileAt(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

function stripQuery(id: string): string {
  const query = id.indexOf('?')
  return query === -1 ? id : id.slice(0, query)
}
