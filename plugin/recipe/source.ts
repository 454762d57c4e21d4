import { isAlias, isMap, isScalar, isSeq, LineCounter, type Document, type Node, type Pair, type YAMLMap } from 'yaml'
import { z } from 'zod'
import type { SourceLocation } from './errors.ts'

export type RecipePath = readonly (string | number)[]

/** A file's text with offset → line/column lookup (yaml's LineCounter), for pointing errors into it. */
export class RecipeSource {
  readonly file: string
  readonly text: string
  readonly lines: LineCounter

  /** `lines` is the counter the YAML parser filled; without one (a scriptlet's text), the newlines are counted here. */
  constructor(file: string, text: string, lines?: LineCounter) {
    this.file = file
    this.text = text
    this.lines = lines ?? countLines(text)
  }

  /** 1-based location of a character offset, with the text of its line. */
  locate(offset: number, length = 1): SourceLocation {
    const { line, col } = this.lines.linePos(Math.min(Math.max(0, offset), this.text.length))
    const sourceLine = this.lineText(line)
    return {
      file: this.file,
      line,
      column: col,
      length: Math.max(1, Math.min(length, sourceLine.length - col + 1)),
      sourceLine,
    }
  }

  /** The location of the first character that is not a space on `line` (1-based). */
  locateLineStart(line: number): SourceLocation {
    const text = this.lineText(line)
    const indent = text.length - text.trimStart().length
    return this.locate((this.lines.lineStarts[line - 1] ?? this.text.length) + indent, text.trim().length)
  }

  lineText(line: number): string {
    const starts = this.lines.lineStarts
    const start = starts[line - 1] ?? this.text.length
    const end = starts[line] ?? this.text.length + 1
    return this.text.slice(start, end - 1).replace(/\r$/, '')
  }
}

function countLines(text: string): LineCounter {
  const counter = new LineCounter()
  counter.addNewLine(0)
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) counter.addNewLine(i + 1)
  return counter
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
      const pair = findPair(doc, node, String(segment))
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

/**
 * The pair of `map` with the key `key`, or, when the map has none, the one a merge key
 * (`<<: *defaults`) brings in: the value then is where it is written, in the anchored mapping.
 */
function findPair(doc: Document, map: YAMLMap, key: string, seen = new Set<YAMLMap>()): Pair | undefined {
  seen.add(map)
  const own = map.items.find((item) => isScalar(item.key) && !isMergeKey(item.key) && String(item.key.value) === key)
  if (own) return own
  for (const item of map.items) {
    if (!isMergeKey(item.key)) continue
    const sources = isSeq(item.value) ? item.value.items : [item.value]
    for (const source of sources) {
      const resolved = isAlias(source) ? source.resolve(doc) : source
      if (!isMap(resolved) || seen.has(resolved)) continue
      const found = findPair(doc, resolved, key, seen)
      if (found) return found
    }
  }
  return undefined
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && (key.source === '<<' || (typeof key.value === 'symbol' && key.value.description === '<<'))
}

function rangeOf(node: unknown): [number, number] | undefined {
  const range = (node as Node | null | undefined)?.range
  if (!range) return undefined
  return [range[0], range[1]]
}

/** Renders a path as zod does: `steps[2].success["metrics.summary_v1"]`. */
export function toDotPath(path: RecipePath): string {
  return z.core.toDotPath([...path])
}
