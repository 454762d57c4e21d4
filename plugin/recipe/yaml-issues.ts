import { isAlias, isMap, isScalar, isSeq, visit, type Document, type YAMLError } from 'yaml'
import type { RecipeIssue } from './errors.ts'
import { lowerFirst, SCHEMA_REFERENCE } from './issue-collector.ts'
import { tooDeepIssue } from './recipe-text.ts'
import type { RecipeSource } from './source.ts'

// yaml's messages for a key indented less than its siblings.
const MISPLACED_KEY = /must start at the same column|Sequence item without - indicator/
const INDENT_HINT = 'Indent the key like the other keys of its mapping (a new list item starts with "- ").'
const SYNTAX_HINT = `Fix the YAML syntax; an editor that knows ${SCHEMA_REFERENCE} shows these as you type.`

/**
 * YAML errors, each at the line to fix. A key indented deeper than its siblings makes yaml
 * report the line above (where the value it swallowed starts): point at the indented line.
 */
export function syntaxIssues(errors: readonly YAMLError[], source: RecipeSource): RecipeIssue[] {
  // Out of stack: yaml's parse was cut short there, and what it reported after that is its
  // consequence, not the author's (how deep yaml gets depends on how far V8 has optimized it).
  const overflow = errors.find((error) => /call stack/i.test(error.message))
  if (overflow) return [tooDeepIssue(source, overflow.pos[0])]
  const overIndented = new Set(
    errors.filter((error) => error.code === 'MULTILINE_IMPLICIT_KEY').map((error) => error.pos[0]),
  )
  return errors
    .filter((error) => !(error.code === 'BLOCK_AS_IMPLICIT_KEY' && overIndented.has(error.pos[0])))
    .slice(0, 5)
    .map((error): RecipeIssue => {
      if (error.code === 'MULTILINE_IMPLICIT_KEY') {
        const line = source.lines.linePos(Math.max(error.pos[0], error.pos[1] - 1)).line
        return {
          code: 'RECIPE_YAML_SYNTAX',
          message: 'this line is indented deeper than the key above it, so YAML reads it as part of that value',
          location: source.locateLineStart(line),
          hint: INDENT_HINT,
        }
      }
      const known = knownYamlIssue(error, source)
      if (known) return known
      let location = source.locate(error.pos[0], error.pos[1] - error.pos[0])
      // An indentation error reported at the start of a line: underline the key, not the blank.
      if (/^\s/.test(location.sourceLine?.charAt(location.column - 1) ?? '') && location.sourceLine?.trim())
        location = source.locateLineStart(location.line)
      return {
        code: 'RECIPE_YAML_SYNTAX',
        message: error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
        location,
        hint: MISPLACED_KEY.test(error.message) ? INDENT_HINT : SYNTAX_HINT,
      }
    })
}

/**
 * The YAML errors a recipe author meets most, said in recipe terms at the place to fix:
 * several documents, a tab indenting a line, a key written twice, values nested past yaml's stack.
 */
function knownYamlIssue(error: YAMLError, source: RecipeSource): RecipeIssue | undefined {
  if (/call stack/i.test(error.message)) return tooDeepIssue(source, error.pos[0])
  switch (error.code) {
    case 'MULTIPLE_DOCS':
      return {
        code: 'RECIPE_YAML_SYNTAX',
        message:
          'this file holds more than one YAML document (a "---" line starts the next one); a recipe file is one document',
        location: source.locateLineStart(source.lines.linePos(error.pos[0]).line),
        hint: 'Put each recipe in a file of its own, or remove this "---" line (one "---" at the top of the file is fine).',
      }
    case 'TAB_AS_INDENT': {
      const { line } = source.lines.linePos(error.pos[0])
      return {
        code: 'RECIPE_YAML_SYNTAX',
        message: 'this line is indented with a tab; YAML indents with spaces only',
        location: { ...source.locate(source.lines.lineStarts[line - 1] ?? 0, 1) },
        hint: 'Replace the tabs at the start of the line with spaces (editors: "Convert Indentation to Spaces"), as many as the lines it belongs with.',
      }
    }
    case 'DUPLICATE_KEY': {
      const location = source.locate(error.pos[0], error.pos[1] - error.pos[0])
      const rest = source.lineText(location.line).slice(location.column - 1)
      const key = /^("[^"]*"|'[^']*'|[^:,{}[\]]*?)\s*:(?:\s|$)/.exec(rest)?.[1] ?? rest.trim()
      return {
        code: 'RECIPE_YAML_SYNTAX',
        message: `the key ${JSON.stringify(key)} is written twice in this mapping`,
        location: { ...location, length: key.length },
        hint: 'A mapping holds each key once: remove one of them, or rename it.',
      }
    }
    default:
      return undefined
  }
}

/**
 * What yaml refuses while building the values, at the place it concerns: too many aliases
 * expanded (a "billion laughs" file) at the first alias, a merge (`<<`) of something that is
 * not a mapping at that merge.
 */
export function toJsIssue(error: unknown, doc: Document, source: RecipeSource): RecipeIssue {
  if (!(error instanceof Error)) throw error
  if (/merge/i.test(error.message)) {
    let offset = 0
    visit(doc, {
      Pair(_key, pair) {
        if (!isScalar(pair.key) || pair.key.source !== '<<') return undefined
        if (mergesMappings(pair.value, doc)) return undefined
        offset = pair.key.range?.[0] ?? 0
        return visit.BREAK
      },
    })
    return {
      code: 'RECIPE_YAML_SYNTAX',
      message: 'a merge key (<<) takes a mapping, an alias of one (*name) or a list of those',
      location: source.locate(offset, 2),
      hint: 'Merge an anchored mapping, such as <<: *defaults with defaults: &defaults { type: ts }.',
    }
  }
  if (/call stack/i.test(error.message)) return tooDeepIssue(source, doc.contents?.range?.[0] ?? 0)
  if (!/alias/i.test(error.message)) throw error
  let offset = 0
  visit(doc, {
    Alias(_key, node) {
      offset = node.range?.[0] ?? 0
      return visit.BREAK
    },
  })
  return {
    code: 'RECIPE_YAML_SYNTAX',
    message: `${lowerFirst(error.message)}: the aliases (*name) of this file expand to too many nodes`,
    location: source.locate(offset, 1),
    hint: 'Write the values out, or use fewer nested anchors and aliases.',
  }
}

function mergesMappings(value: unknown, doc: Document): boolean {
  const resolved = isAlias(value) ? value.resolve(doc) : value
  if (isMap(resolved)) return true
  if (!isSeq(resolved)) return false
  return resolved.items.every((item) => isMap(isAlias(item) ? item.resolve(doc) : item))
}
