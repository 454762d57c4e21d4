import {
  type BigIntStats,
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ctxTempFolderPrefix } from '../context/ctx-temp-folder.ts'
import type { JsonValue } from '../context/json-value.ts'
import type { StepContext } from '../context/step-context.ts'

/** One file holding the context as JSON, and what it holds. */
interface CtxFile {
  path: string
  /** The context it holds, key by key: values are frozen copies, so an unchanged value is the same object. */
  keys: string[]
  values: (JsonValue | undefined)[]
  /** The file as written: a step that changed or removed it gets a rewritten one. */
  written: { ino: bigint; size: bigint; mtimeNs: bigint }
  /** Steps running with it. */
  users: number
}

// Making and removing a temp file per step costs more than a short step's program (a few
// ms on ext4): the files live for the recipe file, and a file is rewritten only when the
// context changed. A step never sees a file change under it: while one runs with a file,
// a step that starts with another context gets another file.
let folder: string | undefined
const files: CtxFile[] = []

/** The file a step's program reads the context from (RECIPES_CTX_FILE), and how to say the step ended. */
export interface CtxFileLease {
  path: string
  release: () => void
}

/**
 * The context as a JSON file, for a child-process step: the file of an earlier step when
 * the context has not changed since (and the file is as it was written), else a file no
 * running step reads, rewritten. Call `release` when the step's program ended.
 */
export function leaseCtxFile(ctx: StepContext): CtxFileLease {
  const keys = ctx.keys()
  const values = keys.map((key) => ctx.get(key))
  let file = files.find((candidate) => holds(candidate, keys, values) && intact(candidate))
  if (!file) {
    file = files.find((candidate) => candidate.users === 0) ?? newFile()
    write(file, keys, values)
  }
  file.users += 1
  const leased = file
  let released = false
  return {
    path: leased.path,
    release: () => {
      if (!released) leased.users -= 1
      released = true
    },
  }
}

/** Removes the context files: at the end of a recipe file, once no step runs. */
export function removeCtxFiles(): void {
  if (folder === undefined) return
  rmSync(folder, { recursive: true, force: true })
  folder = undefined
  files.length = 0
}

function newFile(): CtxFile {
  // A private folder (mode 0700): the context may hold secrets, and no one else may plant a file there.
  // Named by this process: one a killed process leaves is removed when the store next opens.
  folder ??= mkdtempSync(join(tmpdir(), ctxTempFolderPrefix()))
  // Each file in a folder of its own: its name stays ctx.json, as when each step had a temp folder.
  const own = join(folder, String(files.length + 1))
  mkdirSync(own)
  const file: CtxFile = {
    path: join(own, 'ctx.json'),
    keys: [],
    values: [],
    written: { ino: -1n, size: -1n, mtimeNs: -1n },
    users: 0,
  }
  files.push(file)
  return file
}

function holds(file: CtxFile, keys: readonly string[], values: readonly (JsonValue | undefined)[]): boolean {
  if (file.keys.length !== keys.length) return false
  for (let i = 0; i < keys.length; i++) if (file.keys[i] !== keys[i] || file.values[i] !== values[i]) return false
  return true
}

function intact(file: CtxFile): boolean {
  const stats = statSync(file.path, { bigint: true, throwIfNoEntry: false })
  return stats !== undefined && sameFile(stats, file.written)
}

function sameFile(stats: BigIntStats, written: CtxFile['written']): boolean {
  return stats.ino === written.ino && stats.size === written.size && stats.mtimeNs === written.mtimeNs
}

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_RDWR } = constants

/** Rewrites the file in place: truncating it to 0 first would make ext4 flush it to disk (milliseconds). */
function write(file: CtxFile, keys: string[], values: (JsonValue | undefined)[]): void {
  const json = JSON.stringify(Object.fromEntries(keys.map((key, i) => [key, values[i]])))
  const fd = openForWriting(file.path)
  try {
    ftruncateSync(fd, writeSync(fd, json, 0))
    const stats = fstatSync(fd, { bigint: true })
    file.written = { ino: stats.ino, size: stats.size, mtimeNs: stats.mtimeNs }
  } finally {
    closeSync(fd)
  }
  file.keys = keys
  file.values = values
}

/** Opens the file for writing; one a step replaced (by a symlink, say) is removed and made anew. */
function openForWriting(path: string): number {
  try {
    return openSync(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600)
  } catch {
    rmSync(path, { force: true, recursive: true })
    return openSync(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
  }
}
