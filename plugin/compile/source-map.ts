import { MAX_RECIPE_BYTES } from '../recipe/recipe-text.ts'

/**
 * A minimal line-level source map: each generated line maps (at column 0) to one place in
 * the recipe, or to nothing. That is all Vitest and the VS Code extension need to place a
 * step's test at its YAML line.
 */
export interface LineSourceMap {
  version: 3
  file: string
  sources: string[]
  /** Left out for a file too large to be a recipe: Vite inlines the map into the module it hands the worker. */
  sourcesContent?: string[]
  names: string[]
  mappings: string
}

/** 1-based line and column in the recipe. */
export interface Origin {
  line: number
  column: number
}

/** `origins[i]` is where generated line i comes from in the recipe, or undefined for nowhere. */
export function createLineSourceMap(
  file: string,
  source: string,
  origins: readonly (Origin | undefined)[],
): LineSourceMap {
  let previousLine = 0
  let previousColumn = 0
  const mappings = origins.map((origin) => {
    if (origin === undefined) return ''
    const segment = [0, 0, origin.line - 1 - previousLine, origin.column - 1 - previousColumn]
    previousLine = origin.line - 1
    previousColumn = origin.column - 1
    return segment.map(encodeVlq).join('')
  })
  return {
    version: 3,
    file,
    sources: [file],
    ...(source.length <= MAX_RECIPE_BYTES ? { sourcesContent: [source] } : {}),
    names: [],
    mappings: mappings.join(';'),
  }
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

function encodeVlq(value: number): string {
  let vlq = value < 0 ? (-value << 1) | 1 : value << 1
  let out = ''
  do {
    let digit = vlq & 31
    vlq >>>= 5
    if (vlq > 0) digit |= 32
    out += BASE64[digit]
  } while (vlq > 0)
  return out
}
