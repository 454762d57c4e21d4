import type { JsonValue } from '../context/json-value.ts'
import type { DeclaredParam, ParamType, ScriptletDeclaration } from './declarations.ts'

/**
 * Reads the declarations of a shell scriptlet (its `#` header) or a Python one (its module
 * docstring), the older framework's header extended with three fields:
 *
 * ```text
 * READS: numbers.raw_v1, {src_key}, lab.count_v1?     keys read; ? = optional; none = nothing
 * OUTPUTS: numbers.stats_v1                           keys written (WRITES: is the same)
 * PARAMS:                                             (PARAMETERS: is the same)
 *   - src: str, required: CSV path relative to the project root
 *   - column: str, optional (default "value"): header of the numeric column
 * ```
 *
 * Types: str, int, float (or number), bool, list, dict, any. A field may continue on
 * indented lines. Without a field the scriptlet declares nothing of that kind.
 */
export function headerDeclaration(text: string, file: string, kind: 'shell' | 'python'): ScriptletDeclaration {
  const lines = kind === 'python' ? docstringLines(text) : commentHeaderLines(text)
  const declaration: ScriptletDeclaration = { file, lines: {} }
  for (let i = 0; i < lines.length; i++) {
    const field = /^([A-Z][A-Z_]*):\s*(.*)$/.exec(lines[i]!.text)
    if (!field) continue
    const name = field[1]!
    // The field's text: its own line and the indented lines after it.
    const body = [field[2]!]
    const bodyLines = [lines[i]!]
    while (i + 1 < lines.length && /^\s+\S/.test(lines[i + 1]!.text)) {
      i++
      body.push(lines[i]!.text)
      bodyLines.push(lines[i]!)
    }
    const line = bodyLines[0]!.line
    if (name === 'READS') {
      declaration.reads = keyList(body.join(' '))
      declaration.lines.reads = line
    } else if (name === 'OUTPUTS' || name === 'WRITES') {
      declaration.outputs = keyList(body.join(' ')).map((key) => key.replace(/\?$/, ''))
      declaration.lines.outputs = line
    } else if (name === 'PARAMS' || name === 'PARAMETERS') {
      declaration.params = paramList(bodyLines.map((item) => item.text))
      declaration.lines.params = line
    }
  }
  return declaration
}

interface HeaderLine {
  text: string
  /** 1-based line in the file. */
  line: number
}

/** The leading `#` comment block of a script (after the shebang), without the `#`. */
function commentHeaderLines(text: string): HeaderLine[] {
  const out: HeaderLine[] = []
  const lines = text.split('\n', 200)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (i === 0 && line.startsWith('#!')) continue
    if (!line.startsWith('#')) {
      if (line.trim() === '' && out.length === 0) continue
      break
    }
    out.push({ text: line.replace(/^#\s?/, '').trimEnd(), line: i + 1 })
  }
  return out
}

/** The module docstring of a Python file (the first statement, triple-quoted), line by line. */
function docstringLines(text: string): HeaderLine[] {
  const match = /^(?:[ \t]*(?:#[^\n]*)?\n)*[rRuU]?("""|''')/.exec(text)
  if (!match) return []
  const start = match.index + match[0].length
  const end = text.indexOf(match[1]!, start)
  if (end < 0) return []
  const firstLine = text.slice(0, start).split('\n').length
  return text
    .slice(start, end)
    .split('\n')
    .map((item, i) => ({ text: item.trimEnd(), line: firstLine + i }))
}

/** `a.b_v1, {key}, c.d_v1?` (commas or spaces); `none` is the empty list; `(remarks)` are ignored. */
function keyList(text: string): string[] {
  const cleaned = text.replace(/\([^)]*\)/g, ' ').trim()
  if (/^(none|-|nothing)\.?$/i.test(cleaned)) return []
  return cleaned
    .split(/[\s,]+/)
    .map((item) => item.replace(/[.;]$/, ''))
    .filter((item) => /^(\{[A-Za-z_][\w-]*\}|[A-Za-z_][\w.]*)\??$/.test(item))
}

const TYPES: Record<string, ParamType> = {
  str: 'string',
  string: 'string',
  path: 'string',
  int: 'integer',
  integer: 'integer',
  float: 'number',
  number: 'number',
  bool: 'boolean',
  boolean: 'boolean',
  list: 'array',
  array: 'array',
  dict: 'object',
  object: 'object',
  mapping: 'object',
  any: 'any',
  json: 'any',
}

/** `- name: type, required|optional (default X): description`, one per item. */
function paramList(lines: string[]): DeclaredParam[] {
  const params: DeclaredParam[] = []
  for (const line of lines) {
    const item = /^\s*-\s*([A-Za-z_][\w-]*)\s*:\s*(.*)$/.exec(line)
    if (!item) {
      // A line that continues the previous item's description.
      const last = params.at(-1)
      if (last && line.trim() !== '' && !/^PARAM/.test(line))
        last.description = `${last.description ?? ''} ${line.trim()}`.trim()
      continue
    }
    const [spec, description] = splitSpec(item[2]!)
    const words = spec.split(',').map((word) => word.trim())
    const typeWord = (words[0] ?? '').toLowerCase().replace(/\s*\(.*$/, '')
    const defaultMatch = /\(default\s+(.+?)\)\s*$/.exec(spec) ?? /\bdefault\s+(.+)$/.exec(spec)
    const param: DeclaredParam = {
      name: item[1]!,
      type: TYPES[typeWord] ?? 'any',
      required: /\brequired\b/.test(spec) || (!/\boptional\b/.test(spec) && !defaultMatch),
    }
    if (defaultMatch) param.default = parseDefault(defaultMatch[1]!.trim())
    if (description) param.description = description
    params.push(param)
  }
  return params
}

/** Splits at the first `:` outside quotes and parentheses: the spec, then the description. */
function splitSpec(text: string): [string, string] {
  let depth = 0
  let quote: string | undefined
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!
    if (quote) {
      if (char === quote) quote = undefined
    } else if (char === '"' || char === "'") quote = char
    else if (char === '(') depth++
    else if (char === ')') depth = Math.max(0, depth - 1)
    else if (char === ':' && depth === 0) return [text.slice(0, i).trim(), text.slice(i + 1).trim()]
  }
  return [text.trim(), '']
}

function parseDefault(text: string): JsonValue {
  // Python's spellings, as a docstring writes them.
  if (text === 'True' || text === 'False') return text === 'True'
  if (text === 'None') return null
  try {
    return JSON.parse(text) as JsonValue
  } catch {
    return text.replace(/^'(.*)'$/, '$1')
  }
}
