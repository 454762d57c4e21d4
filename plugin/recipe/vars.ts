/**
 * Recipe variables (`vars:`): the values a recipe takes from outside, so one procedure runs
 * on many devices. Each var is declared with a default (`dut: rack1-sw1`) or without one
 * (`dut: { description: ... }`: it must be given). A value comes from, first to last:
 * `recipes run --var dut=...`, the environment (`RECIPES_VAR_DUT`), the plugin option
 * `vars`, the default. Values from outside are text: they take the var's type (that of its
 * default, or its `type`), or are refused naming the var and where the value came from.
 * This file reads the declarations and resolves the values; var-substitution.ts puts them
 * into the recipe.
 */

export type VarValue = string | number | boolean
export type VarType = 'string' | 'number' | 'boolean'
export const VAR_TYPES: readonly VarType[] = ['string', 'number', 'boolean']

/** Where a var's value came from. */
export type VarOrigin = 'matrix' | 'cli' | 'env' | 'option' | 'default'

/** A var name: an identifier, since it is also part of an environment variable's name. */
export const VAR_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/

/** The environment variable a var is read from: RECIPES_VAR_ and its name upper-cased. */
export const VAR_ENV_PREFIX = 'RECIPES_VAR_'

/**
 * How `recipes run --var` hands its values to the compiler, which runs in the Vitest it
 * starts: a JSON object in this environment variable (apart from RECIPES_VAR_*, so the
 * flag wins over the environment and an error can say which one gave a value).
 */
export const CLI_VARS_ENV = 'RECIPES_CLI_VARS'

/** Names that look like secrets' (…_TOKEN, …_PASSWORD, …_SECRET, …_KEY): vars are not secrets. */
export const SECRET_LIKE_VAR = /(?:_TOKEN|_PASSWORD|_SECRET|_KEY)$/i

export interface VarDeclaration {
  name: string
  type: VarType
  default?: VarValue
  description?: string
}

/** The values given from outside the recipe, by var name. */
export interface VarSources {
  /** The values of the matrix combination being compiled (`matrix:`): they come before every other source. */
  matrix?: Readonly<Record<string, VarValue>>
  /** `recipes run --var name=value`. */
  cli?: Readonly<Record<string, string>>
  /** The environment, read as RECIPES_VAR_<NAME>. */
  env?: Readonly<Record<string, string | undefined>>
  /** The plugin option `vars`. */
  option?: Readonly<Record<string, VarValue>>
}

export interface ResolvedVar {
  value: VarValue
  from: VarOrigin
}

/** A value that could not become its var's value: said with the var and where it came from. */
export interface VarProblem {
  name: string
  message: string
  hint: string
}

/** The sources of this process: the --var values the CLI passed down, the environment, the plugin option. */
export function varSourcesOf(
  option: Readonly<Record<string, VarValue>> | undefined,
  env: NodeJS.ProcessEnv = process.env,
): VarSources {
  const sources: VarSources = { env }
  const cli = parseCliVars(env[CLI_VARS_ENV])
  if (cli) sources.cli = cli
  if (option) sources.option = option
  return sources
}

function parseCliVars(text: string | undefined): Record<string, string> | undefined {
  if (!text) return undefined
  try {
    const value = JSON.parse(text) as unknown
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    return Object.fromEntries(
      Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    )
  } catch {
    return undefined
  }
}

export function varEnvName(name: string): string {
  return `${VAR_ENV_PREFIX}${name.toUpperCase()}`
}

/**
 * The declarations of a `vars:` mapping as the schema accepts them: `name: default` or
 * `name: { default, type, description }`. Entries the schema refuses are left out (their
 * problems are reported by the schema); so are those whose type and default disagree
 * (reported here, in `problems`).
 */
export function readVarDeclarations(raw: unknown): { declarations: VarDeclaration[]; problems: VarProblem[] } {
  const declarations: VarDeclaration[] = []
  const problems: VarProblem[] = []
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { declarations, problems }
  for (const [name, entry] of Object.entries(raw)) {
    if (!VAR_NAME_PATTERN.test(name) || SECRET_LIKE_VAR.test(name)) continue
    if (isVarValue(entry)) {
      declarations.push({ name, type: typeOf(entry), default: entry })
      continue
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) continue
    const long = entry as { default?: unknown; type?: unknown; description?: unknown }
    if (Object.keys(long).some((key) => !['default', 'type', 'description'].includes(key))) continue
    if (long.default !== undefined && !isVarValue(long.default)) continue
    if (long.type !== undefined && !VAR_TYPES.includes(long.type as VarType)) continue
    if (long.description !== undefined && typeof long.description !== 'string') continue
    const type = (long.type as VarType | undefined) ?? (long.default === undefined ? 'string' : typeOf(long.default))
    if (long.default !== undefined && typeOf(long.default) !== type) {
      problems.push({
        name,
        message: `var "${name}" is of type ${type}, but its default ${JSON.stringify(long.default)} is a ${typeOf(long.default)}`,
        hint: `Give a ${type} default, or change "type".`,
      })
      continue
    }
    const declaration: VarDeclaration = { name, type }
    if (long.default !== undefined) declaration.default = long.default
    if (typeof long.description === 'string') declaration.description = long.description
    declarations.push(declaration)
  }
  return { declarations, problems }
}

/**
 * Each declared var's value, first given first: --var, RECIPES_VAR_<NAME>, the plugin option,
 * the default. A var with none of them is left out of `values` (its uses are refused where
 * they are); a value that is not of the var's type is a problem naming where it came from.
 */
export function resolveVars(
  declarations: readonly VarDeclaration[],
  sources: VarSources,
): { values: Map<string, ResolvedVar>; problems: VarProblem[] } {
  const values = new Map<string, ResolvedVar>()
  const problems: VarProblem[] = []
  for (const declaration of declarations) {
    const { name } = declaration
    const given = givenValue(name, sources)
    if (given === undefined) {
      if (declaration.default !== undefined) values.set(name, { value: declaration.default, from: 'default' })
      continue
    }
    const value = coerce(given.value, declaration.type)
    if (value === undefined) {
      problems.push({
        name,
        message: `var "${name}" takes ${article(declaration.type)}${declaration.default === undefined ? '' : ` (its default is ${JSON.stringify(declaration.default)})`}, but ${given.where} is not one`,
        hint: `Give ${article(declaration.type)}${declaration.type === 'boolean' ? ' (true or false)' : ''} ${given.fix}.`,
      })
      continue
    }
    values.set(name, { value, from: given.from })
  }
  return { values, problems }
}

/** The value of var `name` given by the first source that gives one, where it came from, and how to give it there. */
export function givenValue(
  name: string,
  sources: VarSources,
): { value: VarValue; from: Exclude<VarOrigin, 'default'>; where: string; fix: string } | undefined {
  const combination = sources.matrix?.[name]
  if (combination !== undefined)
    return {
      value: combination,
      from: 'matrix',
      where: `the matrix value ${JSON.stringify(combination)}`,
      fix: `in matrix.${name}`,
    }
  const cli = sources.cli?.[name]
  if (cli !== undefined)
    return { value: cli, from: 'cli', where: `--var ${name}=${shown(cli)}`, fix: `with --var ${name}=<value>` }
  const envName = varEnvName(name)
  const env = sources.env?.[envName]
  if (env !== undefined)
    return { value: env, from: 'env', where: `${envName}=${shown(env)} (the environment)`, fix: `in ${envName}` }
  const option = sources.option?.[name]
  if (option !== undefined)
    return {
      value: option,
      from: 'option',
      where: `the plugin option vars.${name} = ${JSON.stringify(option)}`,
      fix: `in the plugin option vars.${name}`,
    }
  return undefined
}

/** A given value as the var's type: text as is, numbers and booleans written as such; undefined when it is not one. */
export function coerce(value: VarValue, type: VarType): VarValue | undefined {
  if (typeof value === type) return value
  if (type === 'string') return typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined
  if (typeof value !== 'string') return undefined
  const text = value.trim()
  if (type === 'number') {
    const number = text === '' ? Number.NaN : Number(text)
    return Number.isFinite(number) ? number : undefined
  }
  if (text === 'true') return true
  if (text === 'false') return false
  return undefined
}

export function isVarValue(value: unknown): value is VarValue {
  return (
    typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))
  )
}

function typeOf(value: VarValue): VarType {
  return typeof value as VarType
}

function article(type: VarType): string {
  return type === 'string' ? 'a text' : `a ${type}`
}

/** A value as an error shows it: vars are not secrets, but a long one is cut. */
function shown(text: string): string {
  const cut = text.length > 60 ? `${text.slice(0, 59)}…` : text
  return /[\s"'$`\\]/.test(cut) || cut === '' ? JSON.stringify(cut) : cut
}
