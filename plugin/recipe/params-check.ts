import type { ParamsSchema, ParamType, ScriptletDeclaration } from './declarations.ts'
import { didYouMean } from './did-you-mean.ts'
import type { RecipeIssue, SourceLocation } from './errors.ts'
import type { RecipeStep } from './types.ts'

/**
 * Checks a step's `args` against what its scriptlet declares, before anything runs: a missing
 * required parameter, an unknown one (with a did-you-mean) and a value of the wrong type.
 * TypeScript scriptlets are checked by their own zod schema; shell and Python ones by their
 * header's PARAMS. A step that expects an error is a deliberate negative test: not checked.
 */
export function checkStepParams(step: RecipeStep, declaration: ScriptletDeclaration | undefined): RecipeIssue[] {
  if (!declaration || step.expect.status === 'error') return []
  // A list of args is an argv: names cannot be checked.
  if (Array.isArray(step.params)) return []
  const params = step.params
  const declaredAt = (line: number | undefined) => `${declaration.file}${line ? `:${line}` : ''}`
  if (declaration.schema) return schemaIssues(step, declaration.schema, declaredAt(declaration.lines.params))
  if (!declaration.params) return []
  const where = declaredAt(declaration.lines.params)
  const declared = new Map(declaration.params.map((param) => [param.name, param]))
  const issues: RecipeIssue[] = []
  for (const name of Object.keys(params)) {
    if (declared.has(name)) continue
    issues.push(unknownParam(step, name, [...declared.keys()], where))
  }
  for (const param of declaration.params) {
    const value = params[param.name]
    if (value === undefined || value === null) {
      if (param.required)
        issues.push(
          issue(step, undefined, `step "${step.name}" does not give the required parameter "${param.name}"`, {
            hint: `Add ${param.name}: <${param.type}> to its args${param.description ? ` (${param.description})` : ''}; declared at ${where}.`,
          }),
        )
      continue
    }
    if (!fitsType(value, param.type, step.type === 'shell' || step.type === 'exec'))
      issues.push(
        issue(
          step,
          param.name,
          `parameter "${param.name}" of step "${step.name}" is ${describe(value)}, but ${declaration.file} declares ${article(param.type)}`,
          { hint: `Give ${param.name} ${article(param.type)}; declared at ${where}.` },
        ),
      )
  }
  return issues
}

function schemaIssues(step: RecipeStep, schema: ParamsSchema, where: string): RecipeIssue[] {
  const params = step.params as Record<string, unknown>
  const issues: RecipeIssue[] = []
  const known = objectKeys(schema)
  if (known)
    for (const name of Object.keys(params))
      if (!known.includes(name)) issues.push(unknownParam(step, name, known, where))
  const result = schema.safeParse(params)
  if (result.success) return issues
  for (const problem of result.error?.issues ?? []) {
    const name = typeof problem.path[0] === 'string' ? problem.path[0] : undefined
    // Unknown keys of a strict object are reported above, with a did-you-mean.
    if (problem.code === 'unrecognized_keys' && known) continue
    const path = problem.path.map(String).join('.')
    const missing = name !== undefined && problem.path.length === 1 && params[name] === undefined
    const message = missing
      ? `step "${step.name}" does not give the required parameter "${name}" (${problem.message})`
      : `parameter "${path || 'args'}" of step "${step.name}": ${problem.message}`
    issues.push(
      issue(step, missing ? undefined : name, message, {
        hint: `${missing ? `Add ${name} to its args` : `Fix ${path || 'the args'}`}; the scriptlet's zod schema is at ${where}.`,
      }),
    )
  }
  return issues
}

/** The keys of a zod object schema that refuses or drops others; undefined when any key is allowed or it is no object. */
export function objectKeys(schema: ParamsSchema): string[] | undefined {
  const candidate = schema as {
    shape?: unknown
    _zod?: { def?: { type?: string; catchall?: { _zod?: { def?: { type?: string } } } } }
  }
  const def = candidate._zod?.def
  if (def?.type !== 'object' || typeof candidate.shape !== 'object' || candidate.shape === null) return undefined
  const catchall = def.catchall?._zod?.def?.type
  if (catchall !== undefined && catchall !== 'never') return undefined
  return Object.keys(candidate.shape)
}

function unknownParam(step: RecipeStep, name: string, known: readonly string[], where: string): RecipeIssue {
  const suggestion = didYouMean(name, known)
  return issue(step, name, `step "${step.name}" gives "${name}", which its scriptlet does not take`, {
    hint: `${suggestion ? `Did you mean "${suggestion}"? ` : ''}It takes: ${known.length ? known.join(', ') : 'no parameters'} (declared at ${where}).`,
  })
}

function issue(step: RecipeStep, param: string | undefined, message: string, extra: { hint: string }): RecipeIssue {
  const location: SourceLocation | undefined =
    (param !== undefined ? step.locations.paramKeys?.[param] : undefined) ??
    step.locations.params ??
    step.locations.step
  const found: RecipeIssue = {
    code: 'RECIPE_PARAMS',
    message,
    path: `steps[${step.index}].args${param === undefined ? '' : `.${param}`}`,
    hint: extra.hint,
  }
  if (location) found.location = location
  return found
}

/** Shell and exec steps get their args as environment variables: text that reads as the type fits too. */
function fitsType(value: unknown, type: ParamType, asText: boolean): boolean {
  if (asText && typeof value === 'string' && type !== 'string' && type !== 'any') {
    if (type === 'integer') return /^-?\d+$/.test(value.trim())
    if (type === 'number') return value.trim() !== '' && Number.isFinite(Number(value))
    if (type === 'boolean') return /^(true|false|0|1|yes|no)$/i.test(value.trim())
  }
  switch (type) {
    case 'any':
      return true
    case 'string':
      return typeof value === 'string' || (asText && (typeof value === 'number' || typeof value === 'boolean'))
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value)
    case 'number':
      return typeof value === 'number'
    case 'boolean':
      return typeof value === 'boolean'
    case 'array':
      return Array.isArray(value)
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value)
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string')
    return `the text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  if (typeof value === 'number') return Number.isInteger(value) ? `the whole number ${value}` : `the number ${value}`
  return `the ${typeof value} ${String(value)}`
}

function article(type: ParamType): string {
  return {
    string: 'a text (str)',
    integer: 'a whole number (int)',
    number: 'a number (float)',
    boolean: 'a boolean (bool)',
    array: 'a list',
    object: 'a mapping (dict)',
    any: 'any value',
  }[type]
}
