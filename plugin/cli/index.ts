import { readFileSync } from 'node:fs'
import { didYouMean } from '../recipe/did-you-mean.ts'
import { EXIT_INVALID } from '../scriptlet/envelope.ts'
import { StoreError } from '../store/run-store.ts'
import { UsageError } from './args.ts'
import { ConfigError } from './config.ts'
import { schemaCommand } from './commands/schema.ts'
import { historyCommand } from './commands/history.ts'
import { listCommand } from './commands/list.ts'
import { planCommand } from './commands/plan.ts'
import { reportCommand } from './commands/report.ts'
import { runCommand } from './commands/run.ts'
import { validateCommand } from './commands/validate.ts'
import { stepCommand } from './commands/step.ts'
import { processIo, type CliIo } from './io.ts'

export type { CliIo } from './io.ts'

const COMMANDS: Record<string, { summary: string; run: (args: string[], io: CliIo) => number | Promise<number> }> = {
  run: { summary: 'run recipes through Vitest with --only/--skip/--resume-from/--no-cache', run: runCommand },
  plan: { summary: 'validate a recipe and print its execution plan; runs nothing', run: planCommand },
  list: { summary: 'list recipes and their steps', run: listCommand },
  validate: { summary: 'check all recipes and scriptlets; exit 3 with file:line errors', run: validateCommand },
  history: {
    summary: 'recent runs of a recipe from the run store; flags regressions and status flips',
    run: historyCommand,
  },
  report: { summary: 'write the xlsx/docx/md/json documents of a stored run (--run <id>|last)', run: reportCommand },
  step: { summary: 'run one scriptlet on its own; prints one JSON envelope line', run: stepCommand },
  schema: { summary: 'print the JSON Schema of recipe files', run: schemaCommand },
}

const HELP = `Usage: recipes <command> [options]

Run recipes with Vitest: npx vitest run recipes/   (one test per step; -t selects steps)

Commands:
${Object.entries(COMMANDS)
  .map(([name, { summary }]) => `  ${name.padEnd(10)}${summary}`)
  .join('\n')}

Options:
  -h, --help     Show help (also: recipes <command> --help)
  -v, --version  Show the version`

/** The `recipes` command: returns the exit code instead of exiting, so tests can call it. */
export async function cli(argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...args] = argv
  try {
    if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
      io.stdout(`${HELP}\n`)
      return 0
    }
    if (name === '-v' || name === '--version') {
      io.stdout(`${readVersion()}\n`)
      return 0
    }
    const command = COMMANDS[name]
    if (!command) {
      const suggestion = didYouMean(name, Object.keys(COMMANDS))
      throw new UsageError(
        `unknown command "${name}"${suggestion ? `; did you mean "${suggestion}"?` : ''} (see recipes --help)`,
      )
    }
    return await command.run(args, io)
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof StoreError || error instanceof ConfigError)) throw error
    io.stderr(`recipes: ${error.message}\n`)
    return EXIT_INVALID
  }
}

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}
