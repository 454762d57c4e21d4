import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { OkEnvelope } from '../scriptlet/envelope.ts'

/** A cached successful run of a step: what it wrote and returned. */
export interface CacheEntry {
  runId: string
  recipe: string
  step: string
  createdAt: string
  envelope: OkEnvelope
  writes: [string, JsonValue][]
}

export interface CacheKeyInput {
  step: RecipeStep
  root: string
  /** Files whose content is the step's code (scriptlet module, script). */
  sourceFiles: readonly string[]
  /** The context the step starts from: a step that reads other values must not replay old results. */
  context: JsonObject
}

/**
 * The cache key of a step: a hash of its cache_key text, its scriptlet's source, its args,
 * the content of the input files it declares (`cache: { inputs: [...] }`) and the context
 * it starts from. Any change runs the step again.
 */
export function stepCacheKey({ step, root, sourceFiles, context }: CacheKeyInput): string {
  const hash = createHash('sha256')
  const add = (label: string, value: string | Buffer) => hash.update(`${label}\0`).update(value).update('\0')
  add('cache_key', step.cacheKey ?? '')
  add('type', step.type)
  add('call', JSON.stringify([step.module ?? null, step.export ?? null, step.command ?? null, step.save, step.parse]))
  add('params', JSON.stringify(step.params))
  for (const file of [...sourceFiles, ...step.cacheInputs]) {
    const path = resolve(root, file)
    add(`file ${file}`, existsSync(path) ? readFileSync(path) : 'missing')
  }
  add('context', stableJson(context))
  return hash.digest('hex')
}

/** Cache entries live in `<dir>/<key>.json`; writes go through a temporary file and a rename. */
export class StepCache {
  private readonly dir: string

  constructor(dir: string) {
    this.dir = dir
  }

  read(key: string): CacheEntry | undefined {
    const path = join(this.dir, `${key}.json`)
    if (!existsSync(path)) return undefined
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as CacheEntry
    } catch {
      return undefined // A damaged entry is a miss; the next success rewrites it.
    }
  }

  write(key: string, entry: CacheEntry | string): void {
    mkdirSync(this.dir, { recursive: true })
    const temporary = join(this.dir, `${key}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`)
    writeFileSync(temporary, typeof entry === 'string' ? entry : JSON.stringify(entry))
    // rename is atomic: a parallel run reads the old entry or the new one, never half of one.
    renameSync(temporary, join(this.dir, `${key}.json`))
  }
}

function stableJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  return `{${Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${stableJson(value[key]!)}`)
    .join(',')}}`
}
