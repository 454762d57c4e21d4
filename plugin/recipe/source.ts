import { isMap, isPair, isScalar, isSeq, type Document, type Node } from 'yaml'
import type { SourceLocation } from './errors.ts'

export type RecipePath = readonly (string | number)[]

/** A recipe's text with offset → line/column lookup, for pointing errors into the file. */
export class RecipeSource {
  readonly file: string
  readonly text: string
  private readonly lineStarts: number[]

  constructor(file: string, text: string) {
    this.file = file
    this.text = text
    this.lineStarts = [0]
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.lineStarts.push(i + 1)
  }

  /** 1-based location of a character offset, with the text of its line. */
  locate(offset: number, length = 1): SourceLocation {
    let low = 0
    let high = this.lineStarts.length - 1
    while (low < high) {
      const mid = (low + high + 1) >> 1
      if (this.lineStarts[mid]! <= offset) low = mid
      else high = mid - 1
    }
    const start = this.lineStarts[low]!
    const sourceLine = this.lineText(low + 1)
    const column = offset - start + 1
    return {
      file: this.file,
      line: low + 1,
      column,
      length: Math.max(1, Math.min(length, sourceLine.length - column + 1)),
      sourceLine,
    }
  }

  lineText(line: number): string {
    const start = this.lineStarts[line - 1] ?? this.text.length
    const end = this.lineStarts[line] ?? this.text.length + 1
    return this.text.slice(start, end - 1).replace(/\r$/, '')
  }
}

/**
 * Finds the YAML node at `path`. With `key: true`, returns the key of the last segment
 * (where an unknown or misplaced key should be underlined); otherwise its value. Falls back
 * to the deepest node that exists, so an error about a missing key points at its parent.
 */
export function findNodeRange(
  doc: Document,
  path: RecipePath,
  options: { key?: boolean } = {},
): [number, number] | undefined {
  let node: unknown = doc.contents
  let best = rangeOf(node)
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]
    const last = i === path.length - 1
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment),
      )
      if (!pair) return best
      if (last && options.key) return rangeOf(pair.key) ?? best
      node = pair.value
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment]
    } else {
      return best
    }
    best = rangeOf(node) ?? best
  }
  return best
}

function rangeOf(node: unknown): [number, number] | undefined {
  const range = (node as Node | null | undefined)?.range
  if (!range) return undefined
  // For a block map the range covers every line; underline its first line only.
  return [range[0], range[1]]
}

/** Renders a path as `steps[2].success.ctx_has_keys`. */
export function toDotPath(path: RecipePath): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else out += out ? `.${segment}` : segment
  }
  return out
}
