import { resolve } from 'node:path'
import { createServer, type ViteDevServer } from 'vite'
import { DEFAULT_PYTHON_PATH } from '../compile/options.ts'
import { resolveOwnEntries } from '../compile/own-entries.ts'
import type { RecipeIssue } from '../recipe/errors.ts'
import { type DeclaringScriptlet, exportNotFound, type PreflightResult, preflightRecipe } from '../recipe/preflight.ts'
import { type Combination, combinationIssues } from '../recipe/matrix.ts'
import { pythonSearchPath } from '../recipe/python-module.ts'
import type { Recipe } from '../recipe/types.ts'
import { resumeReaders } from '../recipe/dataflow.ts'
import { refuseUnrestorableReads, type ResumeSnapshot } from '../store/resume.ts'
import { resolveScriptlet } from '../scriptlet/invoke.ts'
import type { Project } from './project.ts'

/**
 * The checks a compiled recipe makes before its first step (args against parameters,
 * dataflow), made by the CLI (`recipes validate`, `recipes plan`): the TypeScript scriptlets
 * are loaded through one Vite server, as Vitest would load them; nothing runs.
 */
export async function preflightRecipes(
  project: Project,
  recipes: readonly Recipe[],
  /** Steps, by recipe, whose scriptlets are not loaded: their file or export is refused already. */
  refused: ReadonlyMap<Recipe, ReadonlySet<string>> = new Map(),
): Promise<Map<Recipe, PreflightResult>> {
  const results = new Map<Recipe, PreflightResult>()
  const pythonPath = pythonSearchPath(project.options.python?.path ?? DEFAULT_PYTHON_PATH, project.root)
  const needsTypescript = recipes.some((recipe) => recipe.steps.some((step) => step.type === 'ts'))
  const loader = needsTypescript ? await startLoader(project.root) : undefined
  try {
    for (const recipe of recipes) {
      const modules = new Map<string, string>()
      const scriptlets = new Map<string, DeclaringScriptlet>()
      const issues: RecipeIssue[] = []
      for (const step of recipe.steps) {
        if (step.type !== 'ts' || step.module === undefined || !loader || refused.get(recipe)?.has(step.name)) continue
        const file = resolve(project.root, step.module)
        modules.set(step.module, file)
        const loaded = await loader.load(file)
        const scriptlet = typeof loaded === 'string' ? loaded : resolveScriptlet(loaded, step.export)
        if (typeof scriptlet !== 'string') {
          scriptlets.set(step.name, scriptlet)
          continue
        }
        issues.push(exportNotFound(step, scriptlet))
      }
      const result = preflightRecipe({ recipe, root: project.root, pythonPath, scriptlets, modules })
      results.set(recipe, { ...result, issues: [...issues, ...result.issues] })
    }
  } finally {
    await loader?.close()
  }
  return results
}

/**
 * The problems `preflightRecipes` found, by recipe file: those of a matrix recipe's
 * combinations merged, each one that not every combination has naming its combination.
 */
export function combinationPreflightIssues(results: ReadonlyMap<Recipe, PreflightResult>): Map<string, RecipeIssue[]> {
  const byFile = new Map<string, { combination: Combination | undefined; issues: RecipeIssue[] }[]>()
  for (const [recipe, result] of results) {
    const checked = byFile.get(recipe.file) ?? []
    checked.push({ combination: recipe.combination, issues: result.issues })
    byFile.set(recipe.file, checked)
  }
  return new Map([...byFile].map(([file, checked]) => [file, combinationIssues(checked)]))
}

/**
 * Why `--resume-from` the step at `fromIndex` of `recipe` cannot go ahead, or undefined: the
 * snapshot's unrestorable keys against what the steps that will run declare they read (their
 * TypeScript scriptlets loaded as Vitest would, only when some key cannot be restored).
 */
export async function refuseResume(
  project: Project,
  recipe: Recipe,
  snapshot: ResumeSnapshot | string,
  fromIndex: number,
  skip: readonly string[],
): Promise<string | undefined> {
  if (typeof snapshot === 'string') return snapshot
  if (!snapshot.unrestorable) return undefined
  const { declarations } = (await preflightRecipes(project, [recipe])).get(recipe)!
  return refuseUnrestorableReads(snapshot, resumeReaders(recipe, declarations, fromIndex, skip))
}

export interface Loader {
  /** The module's namespace, or why it could not be loaded. */
  load(file: string): Promise<Record<string, unknown> | string>
  close(): Promise<void>
}

/** Loads TypeScript modules as Vitest would (one Vite server for all); close it when done. */
export async function startLoader(root: string): Promise<Loader> {
  const server: ViteDevServer = await createServer({
    configFile: false,
    root,
    logLevel: 'silent',
    appType: 'custom',
    server: { middlewareMode: true, hmr: false, ws: false, watch: null },
    optimizeDeps: { noDiscovery: true, include: [] },
    plugins: [resolveOwnEntries()],
  })
  const cache = new Map<string, Promise<Record<string, unknown> | string>>()
  return {
    load(file) {
      let loaded = cache.get(file)
      if (!loaded) {
        loaded = server.ssrLoadModule(file).then(
          (namespace) => namespace as Record<string, unknown>,
          (error: unknown) =>
            `could not load ${file.slice(root.length + 1)}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
        )
        cache.set(file, loaded)
      }
      return loaded
    },
    close: () => server.close(),
  }
}
