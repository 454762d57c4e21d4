import { didYouMean } from '../recipe/did-you-mean.ts'
import { CLI_VARS_ENV, VAR_NAME_PATTERN } from '../recipe/vars.ts'
import { UsageError } from './args.ts'

/** `--var name=value` flags (repeatable) as name → value; the value is everything after the first "=", as given. */
export function parseVarFlags(flags: readonly string[] | undefined): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const flag of flags ?? []) {
    const equals = flag.indexOf('=')
    const name = equals === -1 ? flag : flag.slice(0, equals)
    if (equals === -1 || !VAR_NAME_PATTERN.test(name))
      throw new UsageError(
        `--var takes name=value (for example --var dut=rack1-sw2), not "${flag}"${equals === -1 ? '' : `: "${name}" is not a var name (letters, digits and "_", not starting with a digit)`}`,
      )
    vars[name] = flag.slice(equals + 1)
  }
  return vars
}

/**
 * Hands the --var values to the recipes compiled in this process (the Vitest the command
 * starts, and the command's own checks) through RECIPES_CLI_VARS, replacing any inherited
 * from an outer run; returns how to put the environment back.
 */
export function passVarsDown(vars: Record<string, string>): () => void {
  const before = process.env[CLI_VARS_ENV]
  process.env[CLI_VARS_ENV] = JSON.stringify(vars)
  return () => {
    if (before === undefined) delete process.env[CLI_VARS_ENV]
    else process.env[CLI_VARS_ENV] = before
  }
}

/** Refuses --var names no selected recipe declares: a typo would otherwise silently run with the default. */
export function refuseUndeclaredVars(vars: Record<string, string>, declared: ReadonlySet<string>): void {
  const unknown = Object.keys(vars).filter((name) => !declared.has(name))
  if (unknown.length === 0) return
  const suggestion = didYouMean(unknown[0]!, declared)
  throw new UsageError(
    `--var: no selected recipe declares a var named ${unknown.map((name) => `"${name}"`).join(', ')}${suggestion ? `; did you mean "${suggestion}"?` : declared.size ? ` (their vars: ${[...declared].join(', ')})` : ' (they declare no vars:)'}`,
  )
}

/**
 * Refuses --var names none of `recipes` declares (refuseUndeclaredVars). A recipe that could not
 * be read at all may declare any var: the names are checked only when every one was read.
 */
export function refuseVarsNoneDeclares(
  flags: readonly string[] | undefined,
  recipes: readonly { declaredVars?: string[] | undefined }[],
): void {
  if (!flags?.length || !recipes.every((loaded) => loaded.declaredVars !== undefined)) return
  refuseUndeclaredVars(parseVarFlags(flags), new Set(recipes.flatMap((loaded) => loaded.declaredVars!)))
}

/** Runs `command` with the --var values passed down (passVarsDown), and puts the environment back after. */
export async function withCliVars<T>(flags: readonly string[] | undefined, command: () => Promise<T>): Promise<T> {
  const restore = passVarsDown(parseVarFlags(flags))
  try {
    return await command()
  } finally {
    restore()
  }
}
