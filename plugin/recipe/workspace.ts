import { existsSync, readdirSync, realpathSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { didYouMean } from './did-you-mean.ts'
import type { RecipeIssue, SourceLocation } from './errors.ts'
import type { Recipe, RecipeStep } from './types.ts'

/** Is `target` inside `root` (or `root` itself)? Both absolute. */
export function isInside(root: string, target: string): boolean {
  const rel = relative(root, target)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

export interface WorkspaceOptions {
  /** Folders (relative to the root) that python modules load from. */
  pythonPath: readonly string[]
}

export interface ResolvedFiles {
  /** Absolute path of each ts scriptlet module, by the recipe's `module` string. */
  modules: Map<string, string>
  issues: RecipeIssue[]
}

/**
 * Checks every file a recipe's steps would run: ts modules and python modules must exist;
 * no scriptlet, script or executable path may lead outside the project root, by `..`, an
 * absolute path or a symlink. (A missing script is a step error at run time, as the older
 * runner reported it.)
 */
export function resolveStepFiles(recipe: Recipe, root: string, options: WorkspaceOptions): ResolvedFiles {
  const modules = new Map<string, string>()
  const issues: RecipeIssue[] = []
  const workspace = new Workspace(root)
  for (const step of recipe.steps) {
    const issue = checkStep(step, workspace, options, modules)
    if (issue) issues.push(issue)
  }
  return { modules, issues }
}

function checkStep(
  step: RecipeStep,
  workspace: Workspace,
  options: WorkspaceOptions,
  modules: Map<string, string>,
): RecipeIssue | undefined {
  const at = (key: 'module' | 'command') => ({
    path: `steps[${step.index}].${key === 'command' ? 'cmd' : 'module'}`,
    location: step.locations[key] ?? step.locations.step,
  })
  if (step.type === 'ts' && step.module !== undefined) {
    const outside = workspace.refuseOutside(step.module, 'module', at('module'))
    if (outside) return outside
    const absolute = workspace.resolve(step.module)
    if (!existsSync(absolute)) {
      const suggestion = siblingSuggestion(absolute)
      return {
        code: 'RECIPE_MODULE_NOT_FOUND',
        message: `scriptlet module "${step.module}" does not exist`,
        ...at('module'),
        hint: suggestion
          ? `Did you mean "${workspace.display(suggestion)}"?`
          : 'Paths are relative to the project root, for example scriptlets/steps/compute_mean.ts.',
      }
    }
    modules.set(step.module, absolute)
    return undefined
  }
  if (step.type === 'python' && step.module !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(step.module)) {
      return {
        code: 'RECIPE_SCHEMA',
        message: `"${step.module}" is not a dotted python module path`,
        ...at('module'),
        hint: 'Write it like scriptlets.python.steps.compute_numbers.',
      }
    }
    const candidates = options.pythonPath.flatMap((folder) => [
      `${join(folder, ...step.module!.split('.'))}.py`,
      join(folder, ...step.module!.split('.'), '__init__.py'),
    ])
    if (!candidates.some((candidate) => existsSync(workspace.resolve(candidate)))) {
      return {
        code: 'RECIPE_MODULE_NOT_FOUND',
        message: `python module "${step.module}" is not under the python path (${options.pythonPath.join(', ')})`,
        ...at('module'),
        hint: `Looked for ${candidates.map((candidate) => workspace.display(workspace.resolve(candidate))).join(', ')}; set the plugin option python.path to the folders your modules import from.`,
      }
    }
    return undefined
  }
  const program = Array.isArray(step.command) ? step.command[0] : step.command
  if (program === undefined) return undefined
  // exec steps may name a program on PATH (awk, ping); anything with a slash is a file of the workspace.
  if (step.type === 'exec' && !program.includes('/')) return undefined
  return workspace.refuseOutside(program, 'script', at('command'))
}

class Workspace {
  readonly root: string
  private realRoot: string | undefined

  constructor(root: string) {
    this.root = root
  }

  resolve(path: string): string {
    return resolve(this.root, path)
  }

  display(absolute: string): string {
    return relative(this.root, absolute).split(sep).join('/')
  }

  /** An issue when `path` is absolute or leads outside the root (directly or through a symlink). */
  refuseOutside(
    path: string,
    what: string,
    where: { path: string; location: SourceLocation },
  ): RecipeIssue | undefined {
    const absolute = this.resolve(path)
    const outside = isAbsolute(path) || !isInside(this.root, absolute)
    const linkedOut =
      !outside && existsSync(absolute) && !isInside((this.realRoot ??= realpathSync(this.root)), realpathSync(absolute))
    if (!outside && !linkedOut) return undefined
    return {
      code: 'RECIPE_PATH_OUTSIDE_WORKSPACE',
      message: linkedOut
        ? `${what} "${path}" is a symlink to a file outside the project root`
        : `${what} "${path}" resolves outside the project root`,
      ...where,
      hint: linkedOut
        ? 'Copy the file into the workspace instead of linking to it.'
        : 'Scriptlets load only from inside the workspace: give a path relative to the project root, without "..".',
    }
  }
}

function siblingSuggestion(absolute: string): string | undefined {
  const dir = dirname(absolute)
  if (!existsSync(dir)) return undefined
  const match = didYouMean(absolute.slice(dir.length + 1), readdirSync(dir))
  return match === undefined ? undefined : resolve(dir, match)
}
