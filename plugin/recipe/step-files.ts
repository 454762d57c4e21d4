import { existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { pythonModuleFile } from './python-module.ts'
import type { RecipeStep } from './types.ts'
import { isInside } from './workspace.ts'

/**
 * The files of the project that `steps` run, each once, in step order: ts and python
 * modules, and scripts or executables named by a path (`ping` on the PATH is not the
 * project's). Files that do not exist or lie outside the root are left out: the recipe
 * check reports those. `pythonPath` is the absolute search path of python modules.
 */
export function stepFiles(
  steps: readonly RecipeStep[],
  root: string,
  pythonPath: readonly string[],
): { file: string; type: RecipeStep['type'] }[] {
  const found = new Map<string, RecipeStep['type']>()
  for (const step of steps) {
    const file = stepFile(step, root, pythonPath)
    if (file && !found.has(file)) found.set(file, step.type)
  }
  return [...found].map(([file, type]) => ({ file, type }))
}

/** The project file a step runs (absolute), when it is one that exists inside the root. */
export function stepFile(step: RecipeStep, root: string, pythonPath: readonly string[]): string | undefined {
  const command = Array.isArray(step.command) ? step.command[0] : step.command
  const file =
    step.type === 'python' && step.module !== undefined
      ? pythonModuleFile(step.module, pythonPath, root)
      : step.module !== undefined
        ? resolve(root, step.module)
        : typeof command === 'string' && (step.type !== 'exec' || command.includes('/'))
          ? resolve(root, command)
          : undefined
  return file && isFile(root, file) ? file : undefined
}

function isFile(root: string, file: string): boolean {
  return isInside(root, file) && existsSync(file) && statSync(file).isFile()
}
