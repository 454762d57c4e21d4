import { didYouMean } from './did-you-mean.ts'
import type { IssueCollector } from './issue-collector.ts'
import { type RecipePath, toDotPath } from './source.ts'
import {
  readVarDeclarations,
  resolveVars,
  SECRET_LIKE_VAR,
  type VarDeclaration,
  type VarOrigin,
  varEnvName,
  type VarSources,
  type VarValue,
} from './vars.ts'

/**
 * Puts the values of a recipe's vars into the recipe as read from YAML, before the schema
 * checks it: `"${{ vars.dut }}"` alone in a string of `args` keeps the value's type (a
 * number stays a number); anywhere else the value is written into the text. Vars are
 * allowed only where a value may change from run to run without changing what the tests
 * are: test_meta, resources, and a step's args/params, resources, cmd arguments (after the
 * program), cache inputs, cache_key and description. Step names (test names, -t, the VS Code
 * explorer), the scriptlet or program a step runs and the rest stay as written.
 */

const OPEN = '${{'
const CLOSE = '}}'
const REFERENCE = /^\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*$/

export interface VarsApplied {
  /** The recipe with each var reference replaced; a reference that could not be is left as written. */
  raw: unknown
  /** Each declared var's value and where it came from, in declaration order. */
  values: Record<string, VarValue>
  from: Record<string, VarOrigin>
  /** Dotted paths of values whose var references were refused: no other problem is claimed about them. */
  refusedPaths: Set<string>
  /** The names under `vars:`, valid or not. */
  declared: string[]
  /** Each string that held var references, by dotted path: what it reads with their values. */
  substituted: Map<string, unknown>
}

type Place = { typed: boolean } | { refusal: string }

const TEXT: Place = { typed: false }
const TYPED: Place = { typed: true }
const WHERE =
  'vars can be used in test_meta, resources, and in a step’s args (or params), resources, cmd arguments after the program, cache inputs, cache_key and description'

/** Replaces the var references of `raw` (the whole recipe as YAML gave it); problems go to `issues`. */
export function applyRecipeVars(raw: unknown, sources: VarSources, issues: IssueCollector): VarsApplied {
  const top = isRecord(raw) ? raw : {}
  const declarations = checkedDeclarations(top.vars, issues)
  const resolved = resolveVars(declarations, sources)
  const failed = new Set<string>()
  for (const problem of resolved.problems) {
    failed.add(problem.name)
    issues.add('RECIPE_VAR_VALUE', problem.message, ['vars', problem.name], { key: true, hint: problem.hint })
  }
  const declared = declarations.map((declaration) => declaration.name)
  const used = new Set<string>()
  const refusedPaths = new Set<string>()
  const substituted = new Map<string, unknown>()

  const substitute = (text: string, path: RecipePath): unknown => {
    if (!text.includes(OPEN)) return text
    const parts = scanTemplate(text)
    if (!parts.some((part) => typeof part !== 'string')) return parts.join('')
    const place = placeOf(path)
    if ('refusal' in place) {
      refusedPaths.add(toDotPath(path))
      const first = parts.find((part) => typeof part !== 'string') as Expression
      issues.add('RECIPE_VAR_NOT_ALLOWED', `vars cannot be used here: ${place.refusal}`, path, {
        find: first.source,
        hint: `Write the value out; ${WHERE}.`,
      })
      return text
    }
    let complete = true
    const values = parts.map((part) => {
      if (typeof part === 'string') return part
      const value = referenceValue(part, path)
      if (value === undefined) complete = false
      return value
    })
    if (!complete) {
      refusedPaths.add(toDotPath(path))
      return text
    }
    const value = place.typed && values.length === 1 ? values[0] : values.map(String).join('')
    substituted.set(toDotPath(path), value)
    return value
  }

  const referenceValue = (part: Expression, path: RecipePath): VarValue | undefined => {
    const name = REFERENCE.exec(part.inner)?.[1]
    if (part.unclosed || name === undefined) {
      issues.add(
        'RECIPE_VAR_EXPRESSION',
        part.unclosed
          ? `"${part.source}" has no closing }}`
          : `"${part.source}" is not a var reference: write \${{ vars.NAME }}`,
        path,
        {
          find: part.source,
          hint: `Only vars can be used in \${{ }} (an environment value comes in as a var through RECIPES_VAR_<NAME>, a secret through secrets:); write $\${{ for a literal \${{.`,
        },
      )
      return undefined
    }
    used.add(name)
    if (!declared.includes(name)) {
      const suggestion = didYouMean(name, declared)
      issues.add('RECIPE_UNKNOWN_VAR', `"${name}" is not a var of this recipe`, path, {
        find: part.source,
        hint: suggestion
          ? `Did you mean "${suggestion}"?`
          : `Declare it under vars: (for example vars: { ${name}: <default> })${declared.length ? `; this recipe's vars: ${declared.join(', ')}` : ''}.`,
      })
      return undefined
    }
    const value = resolved.values.get(name)
    if (value === undefined && !failed.has(name))
      issues.add('RECIPE_UNSET_VAR', unsetMessage(name), path, { find: part.source, hint: unsetHint(name) })
    return value?.value
  }

  const walk = (value: unknown, path: RecipePath): unknown => {
    if (typeof value === 'string') return substitute(value, path)
    if (Array.isArray(value)) return value.map((item, i) => walk(item, [...path, i]))
    if (!isRecord(value)) return value
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      if (key.includes(OPEN) && scanTemplate(key).some((part) => typeof part !== 'string')) {
        refusedPaths.add(toDotPath([...path, key]))
        issues.add('RECIPE_VAR_NOT_ALLOWED', 'vars cannot be used in a key: keys stay as written', [...path, key], {
          key: true,
          hint: `Put the value in the key's value instead; ${WHERE}.`,
        })
      }
      out[key] = walk(item, [...path, key])
    }
    return out
  }

  const result = walk(raw, [])
  // A var nobody gave a value is refused where it is used; one no value reaches is refused where it is declared.
  for (const name of declared)
    if (!resolved.values.has(name) && !failed.has(name) && !used.has(name))
      issues.add('RECIPE_UNSET_VAR', unsetMessage(name), ['vars', name], { key: true, hint: unsetHint(name) })

  const values: Record<string, VarValue> = {}
  const from: Record<string, VarOrigin> = {}
  for (const [name, value] of resolved.values) {
    values[name] = value.value
    from[name] = value.from
  }
  return {
    raw: result,
    values,
    from,
    refusedPaths,
    substituted,
    declared: isRecord(top.vars) ? Object.keys(top.vars) : [],
  }
}

/** The declarations, with the names no environment variable could tell apart or that look like secrets' refused. */
function checkedDeclarations(raw: unknown, issues: IssueCollector): VarDeclaration[] {
  const { declarations, problems } = readVarDeclarations(raw)
  for (const problem of problems)
    issues.add('RECIPE_SCHEMA', problem.message, ['vars', problem.name], { hint: problem.hint })
  if (isRecord(raw))
    for (const name of Object.keys(raw))
      if (SECRET_LIKE_VAR.test(name))
        issues.add(
          'RECIPE_SCHEMA',
          `var "${name}" is named like a secret: vars are recorded with the run and shown in its reports`,
          ['vars', name],
          {
            key: true,
            hint: 'Vars are not secrets: list the environment variable under secrets: and let the scriptlet read it from the environment.',
          },
        )
  const byEnvName = new Map<string, string>()
  return declarations.filter(({ name }) => {
    const other = byEnvName.get(varEnvName(name))
    if (other === undefined) {
      byEnvName.set(varEnvName(name), name)
      return true
    }
    issues.add(
      'RECIPE_SCHEMA',
      `vars "${other}" and "${name}" would both be read from ${varEnvName(name)}`,
      ['vars', name],
      {
        key: true,
        hint: 'Give vars names that differ by more than upper and lower case.',
      },
    )
    return false
  })
}

function unsetMessage(name: string): string {
  return `var "${name}" is not set: it has no default and no value was given`
}

function unsetHint(name: string): string {
  return `Give it with recipes run --var ${name}=..., the environment variable ${varEnvName(name)} or the plugin option vars, or give it a default under vars:.`
}

/** Whether vars may be used at `path` of the recipe, and whether a value used alone there keeps its type. */
function placeOf(path: RecipePath): Place {
  const [top, second, field, ...rest] = path
  if (top === 'resources' && path.length === 2) return TEXT
  if (top === 'test_meta') {
    if (path.length === 2 && ['test_id', 'tester', 'description'].includes(String(second))) return TEXT
    if (path.length === 3 && second === 'tags') return TEXT
  }
  if (top === 'vars') return { refusal: 'a var’s default is a value, not built from other vars' }
  if (top !== 'steps' || typeof second !== 'number') return { refusal: `${toDotPath(path)} stays as written` }
  if (field === 'args' || field === 'params') return TYPED
  if (field === 'name')
    return { refusal: 'step names are test names and stay the same in every run (-t, the VS Code explorer)' }
  if (field === 'module' || field === 'function' || field === 'class')
    return { refusal: `the scriptlet a step runs (${field}) stays as written` }
  if (field === 'cmd' || field === 'script') {
    if (field === 'cmd' && rest.length === 1 && typeof rest[0] === 'number' && rest[0] >= 1) return TEXT
    return { refusal: 'the program a step runs stays as written; pass the value as a later cmd item or in args' }
  }
  if (field === 'resources' && rest.length === 1) return TEXT
  if (field === 'cache' && rest[0] === 'inputs' && rest.length === 2) return TEXT
  if ((field === 'cache_key' || field === 'description') && rest.length === 0) return TEXT
  return { refusal: `${toDotPath(path)} stays as written` }
}

interface Expression {
  /** The reference as written, `${{ vars.dut }}`, for pointing at it. */
  source: string
  inner: string
  unclosed: boolean
}

/**
 * A string cut into text and `${{ ... }}` expressions; `$${{` is a literal `${{`. An
 * expression without its `}}` runs to the end of the string.
 */
export function scanTemplate(text: string): (string | Expression)[] {
  const parts: (string | Expression)[] = []
  let literal = ''
  let at = 0
  while (at < text.length) {
    const open = text.indexOf(OPEN, at)
    if (open === -1) break
    if (open > 0 && text[open - 1] === '$') {
      literal += `${text.slice(at, open - 1)}${OPEN}`
      at = open + OPEN.length
      continue
    }
    literal += text.slice(at, open)
    if (literal) parts.push(literal)
    literal = ''
    const close = text.indexOf(CLOSE, open + OPEN.length)
    const end = close === -1 ? text.length : close + CLOSE.length
    parts.push({
      source: text.slice(open, end),
      inner: text.slice(open + OPEN.length, close === -1 ? text.length : close),
      unclosed: close === -1,
    })
    at = end
  }
  literal += text.slice(at)
  if (literal) parts.push(literal)
  return parts
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
