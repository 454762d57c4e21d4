import { visit, type Document, type YAMLError } from 'yaml'
import type { RecipeIssue } from './errors.ts'
import { lowerFirst, SCHEMA_REFERENCE } from './issue-collector.ts'
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

/** yaml refuses to expand too many aliases (a "billion laughs" file): say so at the first alias. */
export function aliasIssue(error: unknown, doc: Document, source: RecipeSource): RecipeIssue {
  if (!(error instanceof Error && /alias/i.test(error.message))) throw error
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
