import { relative, sep } from 'node:path'

/**
 * A path as users see it in messages, logs and the store: relative to the project root,
 * with forward slashes on every OS (`Logs/<run_id>/1_load.log`, `recipes/x.yaml`).
 */
export function projectPath(root: string, absolute: string): string {
  return relative(root, absolute).split(sep).join('/')
}
