import { type AnalysisOptions, analysisProblems } from '../analysis/options.ts'
import type { KeyNamingMode } from '../context/context.ts'
import type { CompiledRecipe } from '../runtime/spec.ts'
import type { SecretName } from '../runtime/redact.ts'
import { REPORT_FORMATS, type ReportFormat } from '../exporters/index.ts'
import { isVarValue, VAR_NAME_PATTERN } from '../recipe/vars.ts'

/** The plugin's options (`recipes({...})`): checked when the config loads (`checkOptions`). */
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
   * `--merge-reports`): `<dir>/<run_id>/report.{xlsx,docx,md,html}`. `false`: none (the run
   * store is still written; `recipes report` makes them later).
   */
  reports?:
    | false
    | {
        /** Folder, relative to the root. @default 'reports' */
        dir?: string
        /** @default ['xlsx', 'docx', 'md', 'html'] */
        formats?: ReportFormat[]
        /** Write the Office documents and report.html inside the VS Code extension too (VITEST_VSCODE). @default false */
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
  /**
   * Values of recipe vars (`vars:` in a recipe, used as `"${{ vars.dut }}"`) for every recipe
   * that declares them: they win over a recipe's defaults, and lose to the environment
   * (`RECIPES_VAR_DUT`) and to `recipes run --var dut=...`. A recipe that does not declare a
   * var ignores it. Text is read as the var's type (a number default takes `'48'` or `48`).
   * Vars are recorded with each run and shown in its reports: secrets go through `secrets`.
   * @default {}
   */
  vars?: Record<string, string | number | boolean>
}

export const DEFAULT_DB = 'reports/results.sqlite'

export const DEFAULT_PYTHON_PATH = ['.']

/** How long a step waits for a lab resource another run holds, when neither the recipe nor the option says. */
export const DEFAULT_RESOURCE_WAIT_SEC = 600

export const DEFAULT_RECIPE_GLOBS = ['recipes/**/*.{yaml,yml}']

export function ctxServerOf(option: RecipesOptions['ctxServer']): CompiledRecipe['ctxServer'] {
  if (option === false) return false
  const where = typeof option === 'object' && option !== null ? option : {}
  return { host: where.host ?? '127.0.0.1', port: where.port ?? 0 }
}

/** Plugin options are checked when the config loads: a typo should not silently change behaviour. */
export function checkOptions(options: RecipesOptions): void {
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
  const vars = options.vars
  if (vars !== undefined) {
    if (typeof vars !== 'object' || vars === null || Array.isArray(vars))
      problems.push("vars must be an object of var values ({ dut: 'rack1-sw2', port_count: 48 })")
    else
      for (const [name, value] of Object.entries(vars)) {
        if (!VAR_NAME_PATTERN.test(name))
          problems.push(`vars: "${name}" is not a var name (letters, digits and "_", not starting with a digit)`)
        else if (!isVarValue(value))
          problems.push(
            `vars.${name} must be a string, a number or a boolean, not ${JSON.stringify(value) ?? String(value)}`,
          )
      }
  }
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
