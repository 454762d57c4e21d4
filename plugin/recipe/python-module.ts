import { existsSync } from 'node:fs'
import { basename, delimiter, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'

/**
 * How a python step's dotted `module` resolves to a file: the one rule the compiler's checks
 * and the runtime's cache key share. The host puts the plugin option `python.path` first on
 * sys.path and Python adds PYTHONPATH after it, so both are searched, in that order.
 */

const DOTTED_MODULE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/

/** Is `module` a dotted python module path (`scriptlets.python.steps.compute_numbers`)? */
export function isDottedModule(module: string): boolean {
  return DOTTED_MODULE.test(module)
}

/**
 * The absolute folders python modules load from: `configured` (the python.path option), then
 * the entries of PYTHONPATH; relative entries resolve from the project root.
 */
export function pythonSearchPath(
  configured: readonly string[],
  root: string,
  pythonPathEnv: string | undefined = process.env.PYTHONPATH,
): string[] {
  const fromEnv = (pythonPathEnv ?? '').split(delimiter).filter((entry) => entry !== '')
  return [...new Set([...configured, ...fromEnv].map((folder) => resolve(root, folder)))]
}

/** The files that could hold `module` under each folder of `searchPath`, in the order Python tries them. */
export function pythonModuleCandidates(module: string, searchPath: readonly string[], root: string): string[] {
  const parts = module.split('.')
  return searchPath.flatMap((folder) => {
    const base = resolve(root, folder)
    return [`${join(base, ...parts)}.py`, join(base, ...parts, '__init__.py')]
  })
}

/** The absolute file `module` loads from, or undefined when no folder of `searchPath` has it. */
export function pythonModuleFile(module: string, searchPath: readonly string[], root: string): string | undefined {
  return locatePythonModule(module, searchPath, root)?.file
}

/** Where `module` loads from: the folder of the search path that has it, and the file. */
export interface PythonModuleLocation {
  folder: string
  file: string
  /** The `__init__.py` of each package above the module that has one: Python runs them first. */
  packageInits: string[]
}

/** The folder and file `module` loads from, or undefined when no folder of `searchPath` has it. */
export function locatePythonModule(
  module: string,
  searchPath: readonly string[],
  root: string,
): PythonModuleLocation | undefined {
  const parts = module.split('.')
  for (const entry of searchPath) {
    const folder = resolve(root, entry)
    const file = [`${join(folder, ...parts)}.py`, join(folder, ...parts, '__init__.py')].find((candidate) =>
      existsSync(candidate),
    )
    if (file === undefined) continue
    const packageInits = parts
      .slice(0, -1)
      .map((_, index) => join(folder, ...parts.slice(0, index + 1), '__init__.py'))
      .filter((init) => existsSync(init))
    return { folder, file, packageInits }
  }
  return undefined
}

/** How a python file given by its path (recipes step) is imported: its dotted module, and a folder to search first if it needs one. */
export interface PythonFileImport {
  module: string
  /** Set when no folder of the search path imports `file` as `module`: its own folder, put first. */
  folder?: string
}

/**
 * The dotted module `file` imports as from the first folder of `searchPath` that holds it
 * (`scriptlets/python/summarize.py` → `scriptlets.python.summarize` from the root), when
 * that name loads this very file; else its own name from its own folder. Undefined when its
 * name is no python identifier.
 */
export function pythonFileImport(
  file: string,
  searchPath: readonly string[],
  root: string,
): PythonFileImport | undefined {
  const target = resolve(root, file)
  for (const folder of searchPath) {
    const rel = relative(resolve(root, folder), target)
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) continue
    const parts = rel.replace(/\.py$/, '').split(sep)
    if (parts.length > 1 && parts.at(-1) === '__init__') parts.pop()
    const module = parts.join('.')
    if (isDottedModule(module) && pythonModuleFile(module, searchPath, root) === target) return { module }
  }
  const own = basename(target, '.py')
  return isDottedModule(own) && own !== '__init__' ? { module: own, folder: dirname(target) } : undefined
}
