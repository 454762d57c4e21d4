import { readFileSync } from 'node:fs'
import { didYouMean } from '../recipe/did-you-mean.ts'
import { EXIT_INVALID } from '../scriptlet/envelope.ts'
import { UsageError } from './args.ts'
import { processIo, type CliIo } from './io.ts'

export type { CliIo } from './io.ts'

type Command = (args: string[], io: CliIo) => number | Promise<number>

/**
 * Each command loads its module when it runs: `recipes ctx` inside a step must not pay for
 * Vite, SQLite and the exporters (most of a second) that other commands need.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  init: {
    summary: 'turn a folder into a lab project: config, an example recipe and scriptlets (never overwrites)',
    load: async () => (await import('./commands/init.ts')).initCommand,
  },
  run: {
    summary: 'run recipes through Vitest with --only/--skip/--resume-from/--no-cache',
    load: async () => (await import('./commands/run.ts')).runCommand,
  },
  plan: {
    summary: 'validate a recipe and print its execution plan; runs nothing',
    load: async () => (await import('./commands/plan.ts')).planCommand,
  },
  list: { summary: 'list recipes and their steps', load: async () => (await import('./commands/list.ts')).listCommand },
  validate: {
    summary: 'check all recipes and scriptlets; exit 3 with file:line errors',
    load: async () => (await import('./commands/validate.ts')).validateCommand,
  },
  history: {
    summary: 'recent runs of a recipe from the run store; flags regressions and status flips',
    load: async () => (await import('./commands/history.ts')).historyCommand,
  },
  locks: {
    summary: 'who holds each lab resource and who waits for it, from the run store',
    load: async () => (await import('./commands/locks.ts')).locksCommand,
  },
  report: {
    summary: 'write the xlsx/docx/md/json documents of a stored run (--run <id>|last)',
    load: async () => (await import('./commands/report.ts')).reportCommand,
  },
  step: {
    summary: 'run one scriptlet on its own; prints one JSON envelope line',
    load: async () => (await import('./commands/step.ts')).stepCommand,
  },
  ctx: {
    summary: "read and write a running recipe's ctx (full, get, set, append, delete, pop); reads a stored run's",
    load: async () => {
      const { ctxCommand } = await import('./commands/ctx.ts')
      return (args, io) => ctxCommand(args, io)
    },
  },
  dashboard: {
    summary: 'serve a live web page of the runs, steps, ctx, key histories, metrics and trends',
    load: async () => (await import('./commands/dashboard.ts')).dashboardCommand,
  },
  schema: {
    summary: 'print the JSON Schema of recipe files',
    load: async () => (await import('./commands/schema.ts')).schemaCommand,
  },
}

/** Errors that are the user's to fix (usage, config, store): a message and exit 3, no stack. Matched by name: their modules load lazily. */
const USER_ERRORS = new Set(['UsageError', 'StoreError', 'ConfigError'])

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
    return await (await command.load())(args, io)
  } catch (error) {
    if (!(error instanceof Error && USER_ERRORS.has(error.name))) throw error
    io.stderr(`recipes: ${error.message}\n`)
    return EXIT_INVALID
  }
}

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}
