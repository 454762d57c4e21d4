import type { Recipe } from '../recipe/types.ts'
import { type SecretName, WEAK_SECRET_LENGTH, weakSecrets } from '../runtime/redact.ts'

// What a recipe that compiles should still change, said by the compiler and `recipes validate` alike.

/**
 * The warning for a recipe whose secrets (named in `secrets:`, by the plugin option, or by their names' pattern)
 * have values short or plain enough to be masked inside ordinary words; names, never values.
 */
export function weakSecretWarning(
  recipe: Recipe,
  env: NodeJS.ProcessEnv = process.env,
  projectSecrets: readonly SecretName[] = [],
): string | undefined {
  const weak = weakSecrets([...recipe.secrets, ...projectSecrets], env)
  if (weak.length === 0) return undefined
  const names = weak.join(', ')
  return `${recipe.file}: RECIPE_WEAK_SECRET warning: ${weak.length === 1 ? 'the value of the secret' : 'the values of the secrets'} ${names} ${weak.length === 1 ? 'is' : 'are'} shorter than ${WEAK_SECRET_LENGTH} characters or a plain word, so masking ${weak.length === 1 ? 'it' : 'them'} also masks parts of ordinary words and numbers (a password "admin" turns "administrator" into "***istrator"; a value under 4 characters is not masked at all). Use a longer secret (${WEAK_SECRET_LENGTH} characters or more, not a plain word), or expect such masking in logs and reports.`
}
