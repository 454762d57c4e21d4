import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { recipeJsonSchema } from '../../recipe/json-schema.ts'
import { EXIT_OK } from '../../scriptlet/envelope.ts'
import { parseCommandArgs, UsageError } from '../args.ts'
import type { CliIo } from '../io.ts'
import { loadProject } from '../project.ts'

export const SCHEMA_HELP = `Usage: recipes schema [--project] [--scriptlets <dir>] [--out <file>]

Prints the JSON Schema of recipe files (the one shipped as schema/recipe.schema.json).
Point YAML editors at it with a first line such as:
  # yaml-language-server: $schema=../node_modules/vitest-recipes/schema/recipe.schema.json

With --project, the schema of this project: the same, plus the args of every scriptlet
under scriptlets/ that declares its parameters (a zod params schema; a PARAMS header block),
so an editor completes a step's args and flags unknown or missing ones. Regenerate it when
a scriptlet's parameters change (it is a snapshot).

Options:
  --project            add this project's scriptlet args
  --scriptlets <dir>   where the scriptlets are (default: scriptlets)
  --out <file>         write the schema to <file> instead of stdout (folders are created)
  -h, --help           show this help`

export async function schemaCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(
    args,
    {
      help: { type: 'boolean', short: 'h' },
      project: { type: 'boolean' },
      scriptlets: { type: 'string' },
      out: { type: 'string' },
    },
    'schema',
  )
  if (values.help) {
    io.stdout(`${SCHEMA_HELP}\n`)
    return EXIT_OK
  }
  if (values.scriptlets !== undefined && !values.project) throw new UsageError('--scriptlets goes with --project')
  let schema: Record<string, unknown> = recipeJsonSchema()
  if (values.project) {
    const project = await loadProject(io.cwd)
    // Loaded only here: it starts Vite to read the TypeScript scriptlets.
    const { projectRecipeSchema } = await import('../project-schema.ts')
    const found = await projectRecipeSchema(project, join(project.root, values.scriptlets ?? 'scriptlets'))
    schema = found.schema
    io.stderr(
      `recipes schema: args of ${found.described.length} scriptlet(s)${
        found.undeclared.length
          ? `; ${found.undeclared.length} declare no parameters: ${found.undeclared.join(', ')}`
          : ''
      }\n`,
    )
  }
  const text = `${JSON.stringify(schema, null, 2)}\n`
  if (values.out === undefined) io.stdout(text)
  else {
    const file = resolve(io.cwd, values.out)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, text)
    io.stderr(`recipes schema: written to ${values.out}\n`)
  }
  return EXIT_OK
}
