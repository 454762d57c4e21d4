/**
 * The temp folders that hold the ctx files of child-process steps (executors/ctx-file.ts):
 * `<tmp>/vitest-recipes-ctx-<pid>-XXXXXX`, named by the process that made them, so that the
 * store can remove those of processes that were killed (store/leftovers.ts). Here because
 * both sides may import context/ and nothing else in common.
 */
export const CTX_TEMP_PREFIX = 'vitest-recipes-ctx-'

/** The prefix `mkdtemp` completes for the ctx folder of process `pid`. */
export function ctxTempFolderPrefix(pid: number = process.pid): string {
  return `${CTX_TEMP_PREFIX}${pid}-`
}

/** The process that made a ctx temp folder, by its name; undefined for another name (or an older unnamed one). */
export function ctxTempFolderOwner(name: string): number | undefined {
  const match = /^vitest-recipes-ctx-(\d+)-[^/]+$/.exec(name)
  return match ? Number(match[1]) : undefined
}
