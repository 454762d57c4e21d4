import { z } from 'zod'
import { recipeSchema } from './schema.ts'

/**
 * The JSON Schema of recipe files, generated from the zod schema, for YAML editors:
 * `# yaml-language-server: $schema=../node_modules/vitest-recipes/schema/recipe.schema.json`.
 * Committed as `schema/recipe.schema.json`; a test keeps the two in sync.
 */
export function recipeJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(recipeSchema, { io: 'input', target: 'draft-7', unrepresentable: 'any' })
  return {
    ...schema,
    $id: 'https://github.com/vitest-recipes/vitest-recipes/schema/recipe.schema.json',
    title: 'vitest-recipes recipe',
  }
}
