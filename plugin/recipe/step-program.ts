import type { RecipeStep } from './types.ts'

/**
 * The workspace file a shell, exec or python `script:` step runs, as written in the recipe
 * (relative to the root), or undefined when there is none: an exec step may name a program
 * on PATH (awk, ping); anything with a slash is a file of the workspace.
 */
export function stepProgramFile(step: RecipeStep): string | undefined {
  if (step.type === 'ts' || (step.type === 'python' && step.module !== undefined)) return undefined
  const program = Array.isArray(step.command) ? step.command[0] : step.command
  if (program === undefined) return undefined
  return step.type === 'exec' && !program.includes('/') ? undefined : program
}
