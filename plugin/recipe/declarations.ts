import type { JsonValue } from '../context/json-value.ts'

/**
 * What a scriptlet says about itself, for the checks that run before any step: the ctx keys
 * it reads and writes and the parameters it takes. TypeScript scriptlets declare them as
 * properties (`reads`, `outputs`, a zod `params` schema); shell and Python scriptlets in
 * their header (see `header-declarations.ts`). Absent fields mean "not declared": the check
 * says so rather than guessing.
 */
export interface ScriptletDeclaration {
  /** The scriptlet file, relative to the project root, for messages (`scriptlets/x.sh:4`). */
  file: string
  /**
   * Keys read, as declared: `numbers.raw_v1`, `lab.count_v1?` (optional: the scriptlet copes
   * when it is missing), `{src_key}` (the key a parameter names). Undefined: not declared.
   */
  reads?: string[]
  /** Keys written, in the same notation (without `?`). Undefined: not declared. */
  outputs?: string[]
  /** Parameters declared in a header; undefined when there is no such block. */
  params?: DeclaredParam[]
  /** A zod schema of the params (TypeScript scriptlets), checked as the scriptlet itself would. */
  schema?: ParamsSchema
  /** 1-based lines of each declaration in `file`, where known. */
  lines: { reads?: number | undefined; outputs?: number | undefined; params?: number | undefined }
}

export type ParamType = 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object' | 'any'

export interface DeclaredParam {
  name: string
  type: ParamType
  required: boolean
  default?: JsonValue
  description?: string
}

/** The part of a zod schema the checks use (duck-typed: the project's own zod may be another copy). */
export interface ParamsSchema {
  safeParse(value: unknown): {
    success: boolean
    error?: { issues: readonly { path: readonly PropertyKey[]; message: string; code?: string }[] }
  }
}

/** A key as a declaration names it, resolved against the step's params. */
export interface DeclaredKey {
  key: string
  optional: boolean
}

const PLACEHOLDER = /^\{([A-Za-z_][\w-]*)\}$/

/**
 * The keys `entries` name for a step with `params`: `{name}` takes the parameter's value (or
 * its declared default; an optional one left out names nothing); entries whose parameter
 * has no text value are `unresolved`.
 */
export function resolveDeclaredKeys(
  entries: readonly string[],
  params: unknown,
  declared: readonly DeclaredParam[] = [],
): { keys: DeclaredKey[]; unresolved: string[] } {
  const keys: DeclaredKey[] = []
  const unresolved: string[] = []
  const values = typeof params === 'object' && params !== null && !Array.isArray(params) ? params : {}
  for (const raw of entries) {
    const optional = raw.endsWith('?')
    const entry = optional ? raw.slice(0, -1) : raw
    const placeholder = PLACEHOLDER.exec(entry)
    if (!placeholder) {
      keys.push({ key: entry, optional })
      continue
    }
    const name = placeholder[1]!
    const param = declared.find((item) => item.name === name)
    const value = (values as Record<string, unknown>)[name] ?? param?.default
    if (typeof value === 'string' && value !== '') keys.push({ key: value, optional })
    // An optional parameter left out names no key: nothing is read or written under it.
    else if (value === undefined && param && !param.required) continue
    else unresolved.push(entry)
  }
  return { keys, unresolved }
}
