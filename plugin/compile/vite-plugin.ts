import { existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { createFilter, type Plugin } from 'vite'
import { configDefaults } from 'vitest/config'
import { type AnalysisOptions, analysisProblems } from '../analysis/options.ts'
import type { KeyNamingMode } from '../context/context.ts'
import { type CheckedRecipe, checkRecipe } from '../recipe/check.ts'
import { pythonSearchPath } from '../recipe/python-module.ts'
import { DEFAULT_STEP_TIMEOUT_SEC } from '../recipe/step-deadline.ts'
import { type FailingDraft, generateFailingModule, generateRecipeModule, type GeneratedModule } from './codegen.ts'
import { OWN_DIST, OWN_ENTRIES } from './own-entries.ts'
import { type CompiledRecipe, MAX_CONCURRENCY_KEY } from '../runtime/spec.ts'
import { type SecretName, serializeSecretNames, WEAK_SECRET_LENGTH, weakSecrets } from '../runtime/redact.ts'
import type { Recipe } from '../recipe/types.ts'
import { DEFAULT_FORMATS, DEFAULT_REPORTS_DIR, REPORT_FORMATS, type ReportFormat } from '../exporters/index.ts'
import { DEFAULT_ALLURE_RESULTS_DIR } from '../exporters/allure-folder.ts'
import { projectPath } from '../recipe/project-path.ts'
import { stepFiles } from '../recipe/step-files.ts'
import { isInside } from '../recipe/workspace.ts'
import { StoreKeeper } from '../reporter/store-keeper.ts'

export interface RecipesOptions {
  /**
   * Globs, relative to the project root, of the recipe files. They are added to Vitest's
   * `test.include`, next to its defaults or your own patterns.
   * @default ['recipes/**\/*.{yaml,yml}']
   */
  include?: string[]
  /** Globs of YAML files under `include` that are not recipes. @default [] */
  exclude?: string[]
  /**
   * How the context treats keys that do not follow `namespace.entity_vN`.
   * @default 'error'
   */
  keyNaming?: KeyNamingMode
  /**
   * The largest value one ctx write may store, in bytes of its JSON text (for an append, the
   * list it makes). A larger one is refused where it is written (`ctx.set`, the Python host,
   * a shell step's ctx, the ctx API with 422 CTX_VALUE_TOO_LARGE, `recipes ctx`): write large
   * data to a file under `Data/` and store its path instead.
   * @default 16777216 (16 MiB)
   */
  ctxValueMaxBytes?: number
  /**
   * Timeout, in seconds, of steps whose recipe entry sets no `timeout`. Lab steps run
   * longer than unit tests, so this is not Vitest's `testTimeout`.
   * @default 300
   */
  stepTimeout?: number
  /** Python steps. */
  python?: {
    /**
     * Interpreter of the Python host and of python `script:` steps.
     * @default 'python3'
     */
    executable?: string
    /**
     * Folders, relative to the project root, that python modules import from (put first on
     * sys.path). PYTHONPATH from the environment still applies, at compile time too:
     * modules load from these folders, then from PYTHONPATH's.
     * @default ['.']
     */
    path?: string[]
  }
  /**
   * Folder of the step logs, `<logsDir>/<run_id>/<idx>_<step>.log`, relative to the root.
   * @default 'Logs'
   */
  logsDir?: string
  /**
   * Keep step logs in memory and write them when each recipe file ends, as the older
   * framework's RAM mode did (a `store_on_ram.txt` file in the root turns it on too).
   * @default false
   */
  ramLogs?: boolean
  /**
   * Also log each step's params and ctx diff (RECIPES_DEBUG=1 turns it on too).
   * @default false
   */
  debug?: boolean
  /**
   * The run store: an SQLite file relative to the root, or a PostgreSQL database by its URL
   * (`postgres://user@host/db`, shared by a team); the environment variable RECIPES_DB wins.
   * @default 'reports/results.sqlite'
   */
  db?: string
  /**
   * Each running recipe file serves its ctx over HTTP (`recipes ctx`, other hosts, the
   * run's own child processes through RECIPES_CTX_URL and RECIPES_CTX_TOKEN), always behind
   * a per-run token. On loopback and any free port unless `host`/`port` say otherwise
   * (`host: '0.0.0.0'` to reach it from other hosts; a fixed port suits one recipe file at
   * a time); false: not served.
   * @default { host: '127.0.0.1', port: 0 }
   */
  ctxServer?: boolean | { host?: string; port?: number }
  /**
   * The documents written for each recipe run when a Vitest run ends (and at
   * `--merge-reports`): `<dir>/<run_id>/report.{xlsx,docx,md}`. `false`: none (the run
   * store is still written; `recipes report` makes them later).
   */
  reports?:
    | false
    | {
        /** Folder, relative to the root. @default 'reports' */
        dir?: string
        /** @default ['xlsx', 'docx', 'md'] */
        formats?: ReportFormat[]
        /** Write the Office documents inside the VS Code extension too (VITEST_VSCODE). @default false */
        office?: boolean
      }
  /**
   * How each run is analysed once it ends (the `analysis` table, the documents, the
   * dashboard): every step's duration, CPU, peak memory and numeric metrics against the same
   * test_id's earlier passing runs (median and MAD), new failures, fixed and flaky steps.
   * `ai` adds a summary from an OpenAI-compatible endpoint (off by default): the run's
   * analysis, failures and metrics, secrets masked, are sent after the run.
   */
  analysis?: AnalysisOptions
  /**
   * Lab resource locks (`resources:` on a recipe or a step): how long a step waits for a
   * resource another run holds before it fails (a recipe's `resource_wait` overrides it), and
   * how long a hold may last before the step using it is stopped (`resource_hold_max`
   * overrides it; none by default).
   * @default { waitSec: 600 }
   */
  resources?: { waitSec?: number; holdMaxSec?: number }
  /**
   * Allure results of each recipe run, written with the documents when a Vitest run ends (and
   * at `--merge-reports`): each step a result with the recipe as suite, the tester as owner,
   * the tags, its args as parameters, its log, ctx diff and envelope as attachments, and the
   * same history id in every run. The folder holds the results of the last Vitest run (it is
   * emptied first); an `allurerc.mjs` beside it (written once) keeps Allure's history:
   * `npx allure generate --config reports/allurerc.mjs`. `true`: results in reports/allure-results.
   * @default false
   */
  allure?: boolean | { resultsDir?: string }
  /**
   * Environment variables whose values are secrets in every recipe of the project and every
   * `recipes` command, by name or by a pattern of names (`['SWITCH_ENABLE', /^LAB_.*_PASS$/]`),
   * besides each recipe's `secrets:` and the names ending in _TOKEN, _PASSWORD, _SECRET or
   * _KEY. Their values are masked everywhere a run or a command leaves them.
   * @default []
   */
  secrets?: SecretName[]
}

export const DEFAULT_DB = 'reports/results.sqlite'

export const DEFAULT_PYTHON_PATH = ['.']

/** How long a step waits for a lab resource another run holds, when neither the recipe nor the option says. */
export const DEFAULT_RESOURCE_WAIT_SEC = 600

const REPORTER_NAME = 'vitest-recipes'

/** What the plugin exposes to tools that resolve the Vitest config (the `recipes` CLI). */
export interface RecipesPluginApi {
  options: RecipesOptions
}

export const DEFAULT_RECIPE_GLOBS = ['recipes/**/*.{yaml,yml}']

/** The Vitest plugin: compiles recipe files into test modules. `plugins: [recipes()]`. */
export function recipes(options: RecipesOptions = {}): Plugin {
  checkOptions(options)
  const include = options.include ?? DEFAULT_RECIPE_GLOBS
  let root = process.cwd()
  let isRecipe: (id: string) => boolean = () => false

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
    resolveId: (id) => OWN_ENTRIES[id],
    transform(source, id) {
      const file = stripQuery(id)
      if (!isRecipe(file)) return undefined
      const generated = compileRecipe(source, file, root, options)
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
): GeneratedModule & { warnings: string[] } {
  const displayPath = projectPath(root, file)
  const checked = checkRecipe(source, displayPath, root, { pythonPath: options.python?.path ?? DEFAULT_PYTHON_PATH })
  if (!checked.recipe)
    return {
      ...generateFailingModule(file, source, checked.issues, failingDraft(checked, root, options)),
      warnings: [],
    }
  const secrets = options.secrets ?? []
  const warning = weakSecretWarning(checked.recipe, process.env, secrets)
  const compiled: CompiledRecipe = {
    recipe: checked.recipe,
    root,
    keyNaming: options.keyNaming ?? 'error',
    ctxValueMaxBytes: options.ctxValueMaxBytes,
    stepTimeoutSec: options.stepTimeout ?? DEFAULT_STEP_TIMEOUT_SEC,
    resourceWaitSec: checked.recipe.resourceWaitSec ?? options.resources?.waitSec ?? DEFAULT_RESOURCE_WAIT_SEC,
    resourceHoldMaxSec: checked.recipe.resourceHoldMaxSec ?? options.resources?.holdMaxSec,
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
  }
  return {
    ...generateRecipeModule({ compiled, file, source, modules: checked.modules, watched: watchedFiles(compiled) }),
    warnings: warning === undefined ? [] : [warning],
  }
}

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
  return { draft: { recipe, root, pythonPath, refused: [...checked.refused] }, modules }
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

/**
 * The warning for a recipe whose secrets (named in `secrets:`, by the plugin option, or by their names' pattern)
 * have values short or plain enough to be masked inside ordinary words; names, never values.
 */
export function weakSecretWarning(
  recipe: Recipe,
  env: NodeJS.ProcessEnv = process.env,
  projectSecrets: readonly SecretName[] = [],
): string | undefined {
  const weak = weakSecrets([...recipe.secrets, ...projectSecrets], env)
  if (weak.length === 0) return undefined
  const names = weak.join(', ')
  return `${recipe.file}: RECIPE_WEAK_SECRET warning: ${weak.length === 1 ? 'the value of the secret' : 'the values of the secrets'} ${names} ${weak.length === 1 ? 'is' : 'are'} shorter than ${WEAK_SECRET_LENGTH} characters or a plain word, so masking ${weak.length === 1 ? 'it' : 'them'} also masks parts of ordinary words and numbers (a password "admin" turns "administrator" into "***istrator"; a value under 4 characters is not masked at all). Use a longer secret (${WEAK_SECRET_LENGTH} characters or more, not a plain word), or expect such masking in logs and reports.`
}

function ctxServerOf(option: RecipesOptions['ctxServer']): CompiledRecipe['ctxServer'] {
  if (option === false) return false
  const where = typeof option === 'object' && option !== null ? option : {}
  return { host: where.host ?? '127.0.0.1', port: where.port ?? 0 }
}

/** Plugin options are checked when the config loads: a typo should not silently change behaviour. */
function checkOptions(options: RecipesOptions): void {
  const problems: string[] = []
  if (options.keyNaming !== undefined && !['error', 'warn', 'off'].includes(options.keyNaming))
    problems.push(`keyNaming must be 'error', 'warn' or 'off', not ${JSON.stringify(options.keyNaming)}`)
  const maxBytes = options.ctxValueMaxBytes
  if (maxBytes !== undefined && !(Number.isInteger(maxBytes) && maxBytes > 0))
    problems.push(`ctxValueMaxBytes must be a whole number of bytes above 0, not ${JSON.stringify(maxBytes)}`)
  if (options.stepTimeout !== undefined && !(typeof options.stepTimeout === 'number' && options.stepTimeout > 0))
    problems.push(`stepTimeout must be a number of seconds above 0, not ${JSON.stringify(options.stepTimeout)}`)
  const waitSec = options.resources?.waitSec
  const holdMaxSec = options.resources?.holdMaxSec
  if (options.resources !== undefined && (typeof options.resources !== 'object' || options.resources === null))
    problems.push('resources must be { waitSec, holdMaxSec }')
  else {
    if (waitSec !== undefined && !(typeof waitSec === 'number' && waitSec > 0))
      problems.push(`resources.waitSec must be a number of seconds above 0, not ${JSON.stringify(waitSec)}`)
    if (holdMaxSec !== undefined && !(typeof holdMaxSec === 'number' && holdMaxSec > 0))
      problems.push(`resources.holdMaxSec must be a number of seconds above 0, not ${JSON.stringify(holdMaxSec)}`)
  }
  const served = options.ctxServer
  if (served !== undefined && typeof served !== 'boolean') {
    if (typeof served !== 'object' || served === null) problems.push('ctxServer must be true, false or { host, port }')
    else {
      if (served.host !== undefined && (typeof served.host !== 'string' || served.host === ''))
        problems.push(`ctxServer.host must be a host name or address, not ${JSON.stringify(served.host)}`)
      if (
        served.port !== undefined &&
        !(typeof served.port === 'number' && Number.isInteger(served.port) && served.port >= 0 && served.port < 65536)
      )
        problems.push(`ctxServer.port must be a port number (0: any free port), not ${JSON.stringify(served.port)}`)
    }
  }
  const secrets = options.secrets
  if (
    secrets !== undefined &&
    !(
      Array.isArray(secrets) &&
      secrets.every(
        (item) => item instanceof RegExp || (typeof item === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(item)),
      )
    )
  )
    problems.push(
      `secrets must be a list of environment variable names or RegExps of names (['SWITCH_ENABLE', /^LAB_.*_PASS$/]), not ${JSON.stringify(secrets, (_key, value) => (value instanceof RegExp ? String(value) : value))}`,
    )
  for (const name of ['include', 'exclude'] as const) {
    const value = options[name]
    if (value !== undefined && !(Array.isArray(value) && value.every((item) => typeof item === 'string')))
      problems.push(`${name} must be a list of globs`)
  }
  if (
    options.python?.path !== undefined &&
    !(Array.isArray(options.python.path) && options.python.path.every((item) => typeof item === 'string'))
  )
    problems.push('python.path must be a list of folders')
  const reports = options.reports
  if (reports !== undefined && reports !== false) {
    if (typeof reports !== 'object' || reports === null)
      problems.push('reports must be false or an object { dir, formats, office }')
    else {
      if (Array.isArray(reports.formats) && (reports.formats as string[]).includes('allure'))
        problems.push(
          "reports.formats: 'allure' is not a document format; Allure results are turned on by the plugin option allure: true (or { resultsDir })",
        )
      else if (
        reports.formats !== undefined &&
        !(
          Array.isArray(reports.formats) &&
          reports.formats.every((format) => (REPORT_FORMATS as readonly string[]).includes(format))
        )
      ) {
        problems.push(
          `reports.formats must list some of ${REPORT_FORMATS.map((format) => `'${format}'`).join(', ')}, not ${JSON.stringify(reports.formats)}`,
        )
      }
      if (reports.dir !== undefined && (typeof reports.dir !== 'string' || reports.dir === ''))
        problems.push(`reports.dir must be a folder path, not ${JSON.stringify(reports.dir)}`)
      if (reports.office !== undefined && typeof reports.office !== 'boolean')
        problems.push(`reports.office must be true or false, not ${JSON.stringify(reports.office)}`)
    }
  }
  problems.push(...analysisProblems(options.analysis))
  const allure = options.allure
  if (allure !== undefined && typeof allure !== 'boolean') {
    if (typeof allure !== 'object' || allure === null) problems.push('allure must be true, false or { resultsDir }')
    else if (allure.resultsDir !== undefined && (typeof allure.resultsDir !== 'string' || allure.resultsDir === ''))
      problems.push(`allure.resultsDir must be a folder path, not ${JSON.stringify(allure.resultsDir)}`)
  }
  if (problems.length > 0)
    throw new TypeError(`vitest-recipes: invalid plugin options in your vitest config: ${problems.join('; ')}`)
}

function stripQuery(id: string): string {
  const query = id.indexOf('?')
  return query === -1 ? id : id.slice(0, query)
}
