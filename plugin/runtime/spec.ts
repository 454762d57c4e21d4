import type { KeyNamingMode } from '../context/context.ts'
import type { Recipe } from '../recipe/types.ts'

/** What a compiled recipe module hands to the runtime: the parsed recipe and run settings. */
export interface CompiledRecipe {
  recipe: Recipe
  /**
   * A matrix combination's name in its run id (combinationRunNames), made by the compiler,
   * which sees every combination of the matrix: its own among them, its secrets masked.
   */
  runName?: string | undefined
  /** Absolute project root: relative paths in the recipe resolve from here. */
  root: string
  keyNaming: KeyNamingMode
  /** The largest ctx value, in bytes of JSON (plugin option ctxValueMaxBytes); the context's default when absent. */
  ctxValueMaxBytes?: number | undefined
  /** Timeout of steps that set none, in seconds. */
  stepTimeoutSec: number
  /** How long a step waits for a held lab resource before it fails, in seconds. */
  resourceWaitSec: number
  /** How long a hold of a lab resource may last, in seconds; undefined: no bound. */
  resourceHoldMaxSec?: number | undefined
  python: {
    executable: string
    /** Absolute folders python modules import from. */
    path: string[]
  }
  logs: {
    /** Absolute folder that holds `<run_id>/<idx>_<step>.log`. */
    dir: string
    /** Keep logs in memory until the recipe file ends (also on with a `store_on_ram.txt` file in the root). */
    ram: boolean
  }
  /** Log params and ctx diffs of each step (also on with RECIPES_DEBUG=1). */
  debug: boolean
  /** The run store as configured: an SQLite file relative to the root, or a PostgreSQL URL (RECIPES_DB overrides it at run time). */
  db: string
  /** Where each running recipe file serves its ctx (plugin option ctxServer); false: not served. */
  ctxServer: { host: string; port: number } | false
  /** The project's secret variables (plugin option secrets), as serializeSecretNames writes them. */
  secrets: string[]
}

/** Module namespaces of the recipe's TypeScript scriptlets, by the `module` string of the recipe. */
export type ScriptletModules = Record<string, Record<string, unknown>>

/** What the module of a recipe with problems checks before it fails: its draft against its scriptlets. */
export interface DraftCheck {
  recipe: Recipe
  root: string
  /** Absolute search path of python modules. */
  pythonPath: string[]
  /** Steps whose scriptlet is not loaded: their file or export is refused in the issues already. */
  refused: string[]
  /** The project's secret variables (plugin option secrets), as serializeSecretNames writes them. */
  secrets?: string[]
}

/**
 * A run id per run of a recipe file, sortable and readable: `20261122T052700Z-01_basic_number-3f9a`.
 * It names the log folder (`Logs/<run_id>/`) and, in reports, the run. A matrix
 * combination's run adds its name (combinationRunNames: its values, safe as a folder name and
 * its own among the matrix's): `20261122T052700Z-device-dut_rack1-sw2-3f9a`.
 */
export function createRunId(
  recipeFile: string,
  now = new Date(),
  suffix = Math.random().toString(16).slice(2, 6),
  combinationName?: string,
): string {
  const name = recipeFile.replace(/^.*[\\/]/, '').replace(/\.ya?ml$/, '')
  const recipe = (combinationName ? `${name}-${combinationName}` : name).replace(/[^A-Za-z0-9_.-]+/g, '_')
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${recipe}-${suffix}`
}

/** What `recipes run` asks of this run, beyond what Vitest's own flags say. */
export interface RunOptions {
  /** Steps not to run (`--skip`). */
  skip: string[]
  /** Step to resume from (`--resume-from`): earlier steps do not run; ctx comes from the last run. */
  resumeFrom?: string
  /** Ignore cached step results (`--no-cache`); fresh results are still cached. */
  noCache: boolean
  /** Debug logs (`--debug`). */
  debug: boolean
}

/** The key under which `recipes run` provides its options to test workers (Vitest provide/inject). */
export const RUN_OPTIONS_KEY = 'vitestRecipesRunOptions'

/**
 * The key under which the plugin provides the project's `maxConcurrency` to test workers: steps
 * run as setup inside a selected step's test run side by side no more than its tests would.
 */
export const MAX_CONCURRENCY_KEY = 'vitestRecipesMaxConcurrency'
