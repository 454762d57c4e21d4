import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeEach, vi } from 'vitest'
import type { RecipesOptions } from '../../plugin/compile/options.ts'
import { DEFAULT_PYTHON_PATH } from '../../plugin/compile/options.ts'
import { compileRecipe } from '../../plugin/compile/vite-plugin.ts'
import { checkRecipe } from '../../plugin/recipe/check.ts'
import {
  type CompiledRecipe,
  defineRecipe,
  type RecipeStepMeta,
  type RecipeTaskMeta,
  type ScriptletModules,
  type StepTestContext,
} from '../../plugin/runtime/index.ts'
import type { RunData } from '../../plugin/store/run-data.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { EXITS_SCRIPT, STEPS_MODULE } from './fixtures.ts'

// The runtime core driven as a recipe's generated test module drives it, without Vitest:
// the recipe compiled by the plugin's own compileRecipe, `defineRecipe(spec, modules)`, one
// `runStep(name, context)` per step test (a fake of Vitest's test context), then `finish()`.
// Results are read back from the step meta on each task and from the store.

/** A project in a temp dir: recipes, scriptlets and what the runs leave (store, logs). */
export interface RuntimeProject {
  root: string
  write(path: string, content: string, mode?: number): void
  read(path: string): string
  /** The SQLite store the runs record into (the plugin's default, reports/results.sqlite). */
  readonly db: string
  remove(): void
}

export function createRuntimeProject(files: Record<string, string> = {}): RuntimeProject {
  const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-runtime-'))
  const project: RuntimeProject = {
    root,
    db: join(root, 'reports/results.sqlite'),
    write(path, content, mode) {
      const file = join(root, path)
      mkdirSync(dirname(file), { recursive: true })
      writeFileSync(file, content)
      if (mode !== undefined) chmodSync(file, mode)
    },
    read: (path) => readFileSync(join(root, path), 'utf8'),
    remove: () => rmSync(root, { recursive: true, force: true }),
  }
  for (const [path, content] of Object.entries(files)) project.write(path, content)
  return project
}

/** The module of the fixture scriptlets in each project (fixtures.ts). */
export const STEPS = 'scriptlets/steps.ts'

/**
 * Sets up a test file's projects: each test runs on its project's own store with the default
 * logs whatever the environment says (RECIPES_DB, RECIPES_DEBUG), `reset` runs before each test,
 * and the projects are removed after the file. Returns `projectWith(recipe, files)`: a project
 * with the fixture scriptlets (scriptlets/steps.ts, scriptlets/exits.sh) and `recipes/x.yaml`.
 */
export function useRuntimeProjects(
  reset?: () => void,
): (recipe: string, files?: Record<string, string>) => RuntimeProject {
  const projects: RuntimeProject[] = []
  beforeEach(() => {
    reset?.()
    vi.stubEnv('RECIPES_DB', '')
    vi.stubEnv('RECIPES_DEBUG', '')
    return () => vi.unstubAllEnvs()
  })
  afterAll(() => {
    for (const project of projects) project.remove()
  })
  return (recipe, files = {}) => {
    const project = createRuntimeProject({ [STEPS]: STEPS_MODULE, 'recipes/x.yaml': recipe, ...files })
    project.write('scriptlets/exits.sh', EXITS_SCRIPT, 0o755)
    projects.push(project)
    return project
  }
}

/**
 * What the generated module of `file` hands to `defineRecipe`: the spec compiled by the
 * plugin (decoded from the module, as the module decodes it) and the scriptlet modules it imports.
 */
export async function compileForRuntime(
  project: RuntimeProject,
  file: string,
  options: RecipesOptions = {},
): Promise<{ compiled: CompiledRecipe; modules: ScriptletModules }> {
  const absolute = join(project.root, file)
  const source = readFileSync(absolute, 'utf8')
  const generated = compileRecipe(source, absolute, project.root, options)
  const spec = /defineRecipe\(JSON\.parse\(Buffer\.from\("([A-Za-z0-9+/=]*)", "base64"\)/.exec(generated.code)?.[1]
  if (spec === undefined) throw new Error(`${file} did not compile to a recipe module:\n${generated.code}`)
  const compiled = JSON.parse(Buffer.from(spec, 'base64').toString()) as CompiledRecipe
  const checked = checkRecipe(source, file, project.root, { pythonPath: options.python?.path ?? DEFAULT_PYTHON_PATH })
  const modules: ScriptletModules = {}
  for (const [module, path] of checked.modules) modules[module] = (await import(path)) as Record<string, unknown>
  return { compiled, modules }
}

/** A Vitest test as the runner sees it: its name, whether -t kept it, its meta and result. */
export interface FakeTask {
  name: string
  mode: 'run' | 'skip'
  meta: RecipeTaskMeta
  result?: { state: 'pass' | 'fail' | 'skip' }
  file: { tasks: FakeTask[] }
}

/** What `context.skip(note)` throws, as Vitest's skip does: the test ends there. */
export class SkippedTest extends Error {
  override name = 'SkippedTest'
  readonly note: string | undefined
  constructor(note: string | undefined) {
    super(`skipped: ${note}`)
    this.note = note
  }
}

/** How one step's test ended. */
export interface StepTestOutcome {
  state: 'pass' | 'fail' | 'skip' | 'not run'
  /** The error the test failed with. */
  error?: Error
  /** The note it was skipped with. */
  note?: string | undefined
  annotations: { message: string; type: string | undefined }[]
  /** The step record the runner left on the test (`task.meta.recipeStep`). */
  meta: RecipeStepMeta | undefined
}

export interface RecipeRunResult {
  /** The run's id, from the step records ('' when no step recorded anything). */
  runId: string
  tests: Record<string, StepTestOutcome>
  /** What `finish()` threw, if anything. */
  finishError?: Error
}

export interface RunRecipeOptions {
  /** The plugin options the recipe compiles with. */
  plugin?: RecipesOptions
  /** The steps a test name filter (-t) keeps; every step when absent. Vitest marks the others 'skip'. */
  only?: string[]
  /** The test's abort signal (Vitest's timeout, a cancelled run), by step. */
  signals?: Record<string, AbortSignal>
  /** Called before each step's test starts (to break something under the run). */
  beforeTest?: (step: string) => void | Promise<void>
}

/**
 * Runs a recipe file as Vitest runs its module: the steps' tests in order (a run of
 * neighbouring parallel steps side by side, as Vitest runs concurrent tests), each ending
 * as the runner says (pass, fail, skip), then the file's afterAll, `finish()`.
 */
export async function runRecipe(
  project: RuntimeProject,
  file: string,
  options: RunRecipeOptions = {},
): Promise<RecipeRunResult> {
  const { compiled, modules } = await compileForRuntime(project, file, options.plugin)
  const run = defineRecipe(compiled, modules)
  const steps = compiled.recipe.steps
  const only = options.only === undefined ? undefined : new Set(options.only)
  const taskFile: { tasks: FakeTask[] } = { tasks: [] }
  for (const step of steps)
    taskFile.tasks.push({
      name: step.name,
      mode: only && !only.has(step.name) ? 'skip' : 'run',
      meta: {},
      file: taskFile,
    })
  const tests: Record<string, StepTestOutcome> = {}
  const runTest = async (task: FakeTask): Promise<void> => {
    const outcome: StepTestOutcome = { state: 'not run', annotations: [], meta: undefined }
    tests[task.name] = outcome
    if (task.mode === 'skip') {
      task.result = { state: 'skip' }
      return
    }
    await options.beforeTest?.(task.name)
    const signal = options.signals?.[task.name]
    const context: StepTestContext = {
      task: task as unknown as StepTestContext['task'],
      skip: (note?: string) => {
        throw new SkippedTest(note)
      },
      annotate: async (message, type) => {
        outcome.annotations.push({ message, type })
      },
      ...(signal ? { signal } : {}),
    }
    try {
      await run.runStep(task.name, context)
      outcome.state = 'pass'
    } catch (error) {
      if (error instanceof SkippedTest) {
        outcome.state = 'skip'
        outcome.note = error.note
      } else {
        outcome.state = 'fail'
        outcome.error = error as Error
      }
    }
    task.result = { state: outcome.state }
  }
  for (let index = 0; index < steps.length; ) {
    let end = index + 1
    if (steps[index]!.parallel) while (end < steps.length && steps[end]!.parallel) end++
    await Promise.all(taskFile.tasks.slice(index, end).map(runTest))
    index = end
  }
  // The step meta is read once every test has ended: a setup step's filtered-out test gets it late.
  for (const task of taskFile.tasks) tests[task.name]!.meta = task.meta.recipeStep
  const runId = Object.values(tests).find((test) => test.meta)?.meta?.runId ?? ''
  const result: RecipeRunResult = { runId, tests }
  try {
    await run.finish()
  } catch (error) {
    result.finishError = error as Error
  }
  return result
}

/** The run as the store holds it (the store opened as `recipes history` would open it). */
export async function readStoredRun(project: RuntimeProject, runId: string): Promise<RunData | undefined> {
  const store = await RunStore.open(project.db)
  try {
    return await store.readRun(runId)
  } finally {
    await store.close()
  }
}

/** Each stored step as [step, status, attempts, reason]: what most tests compare. */
export function stepSummary(data: RunData | undefined): [string, string, number, string | null][] {
  return (data?.steps ?? []).map((row) => [row.step, row.status, row.attempts, row.reason])
}
