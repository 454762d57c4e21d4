import { z } from 'zod'
import { BOOLEAN_SETTINGS, PYYAML_BOOLEAN_WORDS } from './pyyaml-booleans.ts'
import { recipeSchema } from './schema.ts'

/**
 * The JSON Schema of recipe files, generated from the zod schema, for YAML editors:
 * `# yaml-language-server: $schema=../node_modules/vitest-recipes/schema/recipe.schema.json`.
 * Committed as `schema/recipe.schema.json`; a test keeps the two in sync.
 */
export function recipeJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(recipeSchema, { io: 'input', target: 'draft-7', unrepresentable: 'any' })
  const { properties } = schema as unknown as {
    properties: Record<string, unknown> & { steps: { items: { properties: Record<string, unknown> } } }
  }
  acceptOlderBooleans(properties)
  acceptOlderBooleans(properties.steps.items.properties)
  return {
    ...schema,
    $id: 'https://github.com/vitest-recipes/vitest-recipes/schema/recipe.schema.json',
    title: 'vitest-recipes recipe',
  }
}

type JsonSchema = Record<string, unknown> & { type?: unknown; anyOf?: JsonSchema[] }

/**
 * The recipe's boolean settings (`parallel`, `cache`, ...) also take the older framework's
 * yes/no/on/off, as the recipe reads them (pyyaml-booleans.ts): an editor checking with the
 * schema (YAML 1.2, where they are text) must not flag what runs.
 */
function acceptOlderBooleans(properties: Record<string, unknown>): void {
  const words: JsonSchema = { type: 'string', enum: [...PYYAML_BOOLEAN_WORDS] }
  for (const name of BOOLEAN_SETTINGS) {
    const property = properties[name] as JsonSchema | undefined
    if (!property) continue
    if (property.type === 'boolean') {
      const { type: _boolean, ...rest } = property
      properties[name] = { ...rest, anyOf: [{ type: 'boolean' }, words] }
    } else if (property.anyOf?.some((option) => option.type === 'boolean')) property.anyOf.push(words)
  }
}
