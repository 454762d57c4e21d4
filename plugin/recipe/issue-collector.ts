import type { Document } from 'yaml'
import type { z } from 'zod'
import { didYouMean } from './did-you-mean.ts'
import type { RecipeErrorCode, RecipeIssue, SourceLocation } from './errors.ts'
import { KNOWN_KEYS } from './schema.ts'
import { findNodeRange, type RecipePath, type RecipeSource, toDotPath } from './source.ts'

/** Where a problem's hint sends the author for the allowed values. */
export const SCHEMA_REFERENCE = 'the recipe schema (vitest-recipes/schema/recipe.schema.json)'

/** Collects issues with their positions in the YAML document. */
export class IssueCollector {
  readonly list: RecipeIssue[] = []
  private readonly doc: Document
  private readonly source: RecipeSource
  /** Dotted paths of values whose var references were refused (see applyRecipeVars). */
  silenced: ReadonlySet<string> = new Set()
  /** What each value that held var references reads with their values, by dotted path. */
  substituted: ReadonlyMap<string, unknown> = new Map()

  constructor(doc: Document, source: RecipeSource) {
    this.doc = doc
    this.source = source
  }

  /** Where the value (or with `key`, the key) at `path` is; with `find`, where that text is inside it, when it is written as is. */
  locate(path: RecipePath, options: { key?: boolean; find?: string } = {}): SourceLocation {
    const range = findNodeRange(this.doc, path, options)
    if (!range) return { file: this.source.file, line: 1, column: 1 }
    const inside = options.find === undefined ? -1 : this.source.text.slice(range[0], range[1]).indexOf(options.find)
    if (inside >= 0) return this.source.locate(range[0] + inside, options.find!.length)
    return this.source.locate(range[0], range[1] - range[0])
  }

  /** The text of the value at `path` as written in the file (`1.0` stays `1.0`). */
  sourceText(path: RecipePath): string | undefined {
    const range = findNodeRange(this.doc, path)
    return range ? this.source.text.slice(range[0], range[1]) : undefined
  }

  add(
    code: RecipeErrorCode,
    message: string,
    path: RecipePath,
    options: { key?: boolean; hint?: string; find?: string } = {},
  ): void {
    // A value whose var reference was refused is not also refused for what the reference looks like.
    if (!code.includes('_VAR') && this.silenced.has(toDotPath(path))) return
    const issue: RecipeIssue = { code, message, path: toDotPath(path), location: this.locate(path, options) }
    if (options.hint) issue.hint = options.hint
    this.list.push(issue)
  }

  addZodIssue(issue: z.core.$ZodIssue): void {
    const path = issue.path.filter((segment): segment is string | number => typeof segment !== 'symbol')
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const suggestion = didYouMean(key, knownKeysAt(path))
        this.add('RECIPE_UNKNOWN_KEY', `unknown key "${key}"`, [...path, key], {
          key: true,
          hint: suggestion ? `Did you mean "${suggestion}"?` : `Allowed keys here: ${knownKeysAt(path).join(', ')}.`,
        })
      }
      return
    }
    if (issue.code === 'invalid_key' && path.length === 2 && path[0] === 'vars') {
      this.add('RECIPE_SCHEMA', `"${String(path[1])}" is not a var name`, path, {
        key: true,
        hint: 'A var name is letters, digits and "_", not starting with a digit (it is also read from RECIPES_VAR_<NAME>).',
      })
      return
    }
    let message = issue.code === 'invalid_union' ? unionMessage(path) : lowerFirst(issue.message)
    // The value as written may be fine: say what it read once its vars were put in.
    const dotPath = toDotPath(path)
    if (this.substituted.has(dotPath))
      message += `; with its vars it reads ${JSON.stringify(this.substituted.get(dotPath))}`
    const missing = issue.code === 'invalid_type' && issue.message.includes('received undefined')
    this.add('RECIPE_SCHEMA', missing ? `missing required key "${String(path.at(-1))}"` : message, path, {
      hint: missing ? `Add "${String(path.at(-1))}" here.` : `See ${SCHEMA_REFERENCE} for the allowed values.`,
    })
  }
}

function knownKeysAt(path: RecipePath): readonly string[] {
  const last = path.at(-1)
  if (path.length === 0) return KNOWN_KEYS.recipe
  if (path.length === 1 && last === 'test_meta') return KNOWN_KEYS.testMeta
  if (path.length === 2 && path[0] === 'vars') return KNOWN_KEYS.variable
  if (path[0] === 'steps' && path.length === 2) return KNOWN_KEYS.step
  if (last === 'success') return KNOWN_KEYS.success
  if (last === 'expect') return ['status', 'reason_matches', 'exit_code']
  if (last === 'retry') return ['max', 'delay_sec', 'on']
  return []
}

function unionMessage(path: RecipePath): string {
  if (path.length === 2 && path[0] === 'vars')
    return 'expected a default value (text, number, true or false) or a mapping {default, type, description}'
  switch (path.at(-1)) {
    case 'args':
    case 'params':
      return 'expected a mapping of parameters (or a list)'
    case 'depends_on':
      return 'expected a step name or a list of step names'
    case 'expect':
      return 'expected "ok", "error" or a mapping {status, reason_matches, exit_code}'
    case 'retry':
      return 'expected a number of retries or a mapping {max, delay_sec, on}'
    case 'cmd':
      return 'expected a script path or an argv list'
    default:
      return 'value has the wrong form'
  }
}

export function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1)
}
