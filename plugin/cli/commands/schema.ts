import { recipeJsonSchema } from '../../recipe/json-schema.ts'
import { parseCommandArgs } from '../args.ts'
import type { CliIo } from '../io.ts'

export const SCHEMA_HELP = `Usage: recipes schema

Prints the JSON Schema of recipe files (the one shipped as schema/recipe.schema.json).
Point YAML editors at it with a first line such as:
  # yaml-language-server: $schema=../node_modules/vitest-recipes/schema/recipe.schema.json`

export function schemaCommand(args: string[], io: CliIo): number {
  const { values } = parseCommandArgs(args, { help: { type: 'boolean', short: 'h' } }, 'schema')
  io.stdout(values.help ? `${SCHEMA_HELP}\n` : `${JSON.stringify(recipeJsonSchema(), null, 2)}\n`)
  return 0
}
