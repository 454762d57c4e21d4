import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import { didYouMean } from './did-you-mean.ts'
import type { RecipeIssue, SourceLocation } from './errors.ts'
import { isDottedModule, locatePythonModule, pythonModuleCandidates } from './python-module.ts'
import { pythonTopLevelNames, typescriptExports, type ModuleNames } from './scriptlet-names.ts'
import { stepProgramFile } from './step-program.ts'
import type { RecipeStep } from './types.ts'
import { projectPath } from './project-path.ts'
import type { PythonModuleLocation } from './python-module.ts'

/** Is `target` inside `root` (or `root` itself)? Both absolute. */
export function isInside(root: string, target: string): boolean {
  const rel = relative(root, target)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

export interface WorkspaceOptions {
  /** Absolute folders that python modules load from (see `pythonSearchPath`). */
  pythonPath: readonly string[]
}

export interface ResolvedFiles {
  /** Absolute path of each ts scriptlet module, by the recipe's `module` string. */
  modules: Map<string, string>
  issues: RecipeIssue[]
  /** Names of the steps whose files or names have a problem (in `issues`). */
  refused: Set<string>
}

/**
 * Checks every file a recipe's steps would run: ts modules and python modules must exist
 * and define the `class:` / `function:` the step names; no scriptlet, script or executable
 * path may lead outside the project root, by `..`, an absolute path or a symlink. (A missing
 * script is a step error at run time, as the older runner reported it.) Each file is read
 * once however many steps use it.
 */
export function resolveStepFiles(steps: readonly RecipeStep[], root: string, options: WorkspaceOptions): ResolvedFiles {
  const modules = new Map<string, string>()
  const issues: RecipeIssue[] = []
  const refused = new Set<string>()
  const workspace = new Workspace(root)
  for (const step of steps) {
    const found = checkStep(step, workspace, options, modules)
    if (found.length > 0) refused.add(step.name)
    issues.push(...found)
  }
  return { modules, issues, refused }
}

function checkStep(
  step: RecipeStep,
  workspace: Workspace,
  options: WorkspaceOptions,
  modules: Map<string, string>,
): RecipeIssue[] {
  const at = (key: 'module' | 'command') => ({
    path: `steps[${step.index}].${key === 'command' ? 'cmd' : 'module'}`,
    location: step.locations[key] ?? step.locations.step,
  })
  if (step.type === 'ts' && step.module !== undefined) {
    const outside = workspace.refuseOutside(step.module, 'module', at('module'))
    if (outside) return [outside]
    const absolute = workspace.resolve(step.module)
    if (!workspace.exists(absolute)) {
      const suggestion = siblingSuggestion(absolute)
      return [
        {
          code: 'RECIPE_MODULE_NOT_FOUND',
          message: `scriptlet module "${step.module}" does not exist`,
          ...at('module'),
          hint: suggestion ? `Did you mean "${workspace.display(suggestion)}"?` : folderHint(absolute, workspace),
        },
      ]
    }
    modules.set(step.module, absolute)
    const names = workspace.names(absolute, typescriptExports)
    const wanted = step.export ?? 'default'
    if (!names || names.has(wanted)) return []
    return [
      exportIssue(
        step,
        `the module has no ${step.export === undefined ? 'default export' : `export named "${wanted}"`}`,
        names,
        {
          listed: 'its exports',
          missingHint:
            step.export === undefined
              ? 'Add `function: <ExportName>` (or `class:`) to the step, or give the module a default export.'
              : 'Fix the export name in the recipe or in the module.',
        },
      ),
    ]
  }
  if (step.type === 'python' && step.module !== undefined) {
    if (!isDottedModule(step.module)) {
      return [
        {
          code: 'RECIPE_SCHEMA',
          message: `"${step.module}" is not a dotted python module path`,
          ...at('module'),
          hint: 'Write it like scriptlets.python.steps.compute_numbers.',
        },
      ]
    }
    const located = locatePythonModule(step.module, options.pythonPath, workspace.root)
    if (located === undefined) {
      const candidates = pythonModuleCandidates(step.module, options.pythonPath, workspace.root)
      const folders = options.pythonPath.map((folder) => workspace.display(folder) || '.')
      return [
        {
          code: 'RECIPE_MODULE_NOT_FOUND',
          message: `python module "${step.module}" is not under the python path (${folders.join(', ')})`,
          ...at('module'),
          hint: `Looked for ${candidates.map((candidate) => workspace.display(candidate)).join(', ')}; set the plugin option python.path (or PYTHONPATH) to the folders your modules import from.`,
        },
      ]
    }
    const linkedOut = workspace.refusePythonEscape(step.module, located, at('module'))
    if (linkedOut) return [linkedOut]
    const file = located.file
    const names = workspace.names(file, pythonTopLevelNames)
    if (!names) return []
    const where = `python module ${step.module} (${workspace.display(file)})`
    if (step.export === undefined) {
      if (names.has('run') || names.has('main')) return []
      return [
        exportIssue(step, `${where} has no run() or main() and the step names no class or function`, names, {
          missingHint: 'Add `class: <ClassName>` or `function: <function_name>` to the step.',
        }),
      ]
    }
    if (names.has(step.export)) return []
    return [
      exportIssue(step, `${where} defines no "${step.export}"`, names, {
        missingHint: 'Fix the class or function name in the recipe or in the module.',
      }),
    ]
  }
  const program = stepProgramFile(step)
  if (program === undefined) return []
  const outside = workspace.refuseOutside(program, 'script', at('command'))
  return outside ? [outside] : []
}

function exportIssue(
  step: RecipeStep,
  what: string,
  names: ModuleNames,
  { missingHint, listed: label = 'it defines' }: { missingHint: string; listed?: string },
) {
  const listed = names.names.filter((name) => !name.startsWith('_'))
  const suggestion = step.export === undefined ? undefined : didYouMean(step.export, listed)
  const issue: RecipeIssue = {
    code: 'RECIPE_EXPORT_NOT_FOUND',
    message: `step "${step.name}": ${what}; ${label}: ${listed.length ? listed.join(', ') : '(none)'}`,
    path: `steps[${step.index}].${step.locations.exportKey ?? 'module'}`,
    hint: suggestion ? `Did you mean "${suggestion}"?` : missingHint,
  }
  const location = step.locations.export ?? step.locations.module
  if (location) issue.location = location
  return issue
}

/** The project root, with what was already looked up about its files. */
class Workspace {
  readonly root: string
  private realRoot: string | undefined
  private readonly existing = new Map<string, boolean>()
  private readonly scanned = new Map<string, ModuleNames | undefined>()
  private readonly real = new Map<string, string>()
  private readonly resolved = new Map<string, string>()
  private readonly placed = new Map<string, 'inside' | 'outside' | 'linked-out'>()

  constructor(root: string) {
    this.root = root
  }

  // Memoized like the lookups below: long recipes name the same few files at every step.
  resolve(path: string): string {
    let absolute = this.resolved.get(path)
    if (absolute === undefined) this.resolved.set(path, (absolute = resolve(this.root, path)))
    return absolute
  }

  display(absolute: string): string {
    return projectPath(this.root, absolute)
  }

  exists(absolute: string): boolean {
    let found = this.existing.get(absolute)
    if (found === undefined) this.existing.set(absolute, (found = existsSync(absolute)))
    return found
  }

  names(absolute: string, scan: (text: string) => ModuleNames | undefined): ModuleNames | undefined {
    if (!this.scanned.has(absolute)) this.scanned.set(absolute, scan(readFileSync(absolute, 'utf8')))
    return this.scanned.get(absolute)
  }

  private realpath(absolute: string): string {
    let real = this.real.get(absolute)
    if (real === undefined) this.real.set(absolute, (real = realpathSync(absolute)))
    return real
  }

  /** An issue when `path` is absolute or leads outside the root (directly or through a symlink). */
  refuseOutside(
    path: string,
    what: string,
    where: { path: string; location: SourceLocation },
  ): RecipeIssue | undefined {
    const placement = this.place(path)
    if (placement === 'inside') return undefined
    const linkedOut = placement === 'linked-out'
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

  /** Where `path` (as the recipe writes it) leads: inside the root, outside it, or out through a symlink. */
  private place(path: string): 'inside' | 'outside' | 'linked-out' {
    let placement = this.placed.get(path)
    if (placement !== undefined) return placement
    const absolute = this.resolve(path)
    if (isAbsolute(path) || !isInside(this.root, absolute)) placement = 'outside'
    else placement = this.exists(absolute) && this.linksOut(absolute) ? 'linked-out' : 'inside'
    this.placed.set(path, placement)
    return placement
  }

  /** Does `absolute`, inside the root as written, lead outside it through a symlink? */
  private linksOut(absolute: string): boolean {
    return !isInside((this.realRoot ??= realpathSync(this.root)), this.realpath(absolute))
  }

  /**
   * An issue when a python module found under a folder inside the root (as written) is, or
   * runs, code outside it through a symlink: the search-path folder itself, a package folder,
   * the module file or a package's `__init__.py`. A search-path folder written outside the
   * root (an absolute python.path or PYTHONPATH entry) is the user's explicit choice.
   */
  refusePythonEscape(
    module: string,
    located: PythonModuleLocation,
    where: { path: string; location: SourceLocation },
  ): RecipeIssue | undefined {
    if (!isInside(this.root, located.folder)) return undefined
    const folder = this.display(located.folder) || '.'
    const escaped = this.linksOut(located.folder)
      ? located.folder
      : [...located.packageInits, located.file].find((file) => this.linksOut(file))
    if (escaped === undefined) return undefined
    return {
      code: 'RECIPE_PATH_OUTSIDE_WORKSPACE',
      message:
        escaped === located.folder
          ? `python module "${module}" loads from the python path folder "${folder}", a symlink to a folder outside the project root`
          : `python module "${module}" loads ${this.display(escaped)}, which leads outside the project root through a symlink`,
      ...where,
      hint:
        escaped === located.folder
          ? 'Copy the modules into the workspace, or name the outside folder itself (an absolute path) in python.path or PYTHONPATH.'
          : 'Copy the module into the workspace instead of linking to it, or put the folder it lives in on python.path or PYTHONPATH by its own (absolute) path.',
    }
  }
}

const LISTED_FILES = 8

/** What the folder of a missing module holds (or that there is no such folder): names from the project, never examples. */
function folderHint(absolute: string, workspace: Workspace): string {
  const dir = dirname(absolute)
  const shown = workspace.display(dir) ? `${workspace.display(dir)}/` : 'the root itself'
  if (!existsSync(dir)) return `Paths are relative to the project root, which has no folder ${shown}.`
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|js|mjs)$/.test(entry.name))
    .map((entry) => entry.name)
    .sort()
  if (files.length === 0) return `Paths are relative to the project root; ${shown} holds no scriptlet module.`
  const more = files.length > LISTED_FILES ? ', …' : ''
  return `Paths are relative to the project root; ${shown} holds ${files.slice(0, LISTED_FILES).join(', ')}${more}.`
}

function siblingSuggestion(absolute: string): string | undefined {
  const dir = dirname(absolute)
  if (!existsSync(dir)) return undefined
  const match = didYouMean(absolute.slice(dirname(absolute).length + 1), readdirSync(dir))
  return match === undefined ? undefined : resolve(dir, match)
}
