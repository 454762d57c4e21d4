import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { basename, extname, relative, resolve } from 'node:path'
import { runnerImport } from 'vite'
import { resolveOwnEntries } from '../../compile/own-entries.ts'
import { runCommandStandalone } from '../../executors/standalone.ts'
import type { JsonObject, JsonValue } from '../../context/json-value.ts'
import { isInside } from '../../recipe/workspace.ts'
import { EXIT_INVALID, errorEnvelope, type Envelope } from '../../scriptlet/envelope.ts'
import { resolveScriptlet } from '../../scriptlet/invoke.ts'
import { runScriptletStandalone } from '../../scriptlet/standalone.ts'
import { createRedactor, type Redactor, takeMaskDirectives } from '../../runtime/redact.ts'
import { OutputCapture } from '../../runtime/output-capture.ts'
import { parseCommandArgs, UsageError } from '../args.ts'
import { loadPluginOptions } from '../config.ts'
import type { CliIo } from '../io.ts'

export const STEP_HELP = `Usage: recipes step <scriptlet> [options]

Runs one scriptlet on its own, as a recipe step would run it, and prints exactly one JSON
envelope line on stdout (logs go to stderr): a TypeScript module (.ts, .js, .mjs), a shell
script (.sh), a python script (.py, run as python3 <file> --params <json>) or any other
executable file. Mapping params of a script become environment variables, list params its
arguments; it reads the starting context from the file named by RECIPES_CTX_FILE.
Secrets are masked in everything it prints (the envelope, stderr, error messages) as in a
recipe run: values of variables named with --secret or by the project's plugin option
secrets, or whose names end in _TOKEN, _PASSWORD, _SECRET or _KEY, and values the scriptlet declares secret (tools.secret, or an
::add-mask::<value> line on stderr, which is taken out). --ctx-out keeps the real values.
Exit code: 0 ok, 1 failed, 2 dependency not satisfied, 3 invalid input (params, context,
module or export); a script's own exit code otherwise.

Options:
  --params <json>        Parameters of the scriptlet (default {})
  --params-file <path>   Read the parameters from a JSON file
  --ctx <json>           Context to start from (default {})
  --ctx-file <path>      Read the starting context from a JSON file
  --ctx-out <path>       Write the final context to this JSON file
  --export <name>        TypeScript: the export to run (default: the default export)
  --python <exe>         Python scripts: the interpreter (default python3)
  --name <step>          Step name used for who/step (default: the file name)
  --key-naming <mode>    error | warn | off: keys that are not namespace.entity_vN (default error)
  --root <dir>           Project root; the scriptlet must be inside it (default: cwd)
  --secret <NAME>        The value of this environment variable is a secret (repeatable),
                         as a recipe's secrets: list says
  -h, --help             Show this help

Examples:
  recipes step scriptlets/steps/load_numbers.ts --params '{"src":"Data/numbers.txt"}'
  recipes step scriptlets/shell/sanitize_csv.sh --params '{"INPUT":"Data/raw_numbers.csv","OUTPUT":"/tmp/clean.csv"}'`

const OPTIONS = {
  params: { type: 'string' },
  'params-file': { type: 'string' },
  ctx: { type: 'string' },
  'ctx-file': { type: 'string' },
  'ctx-out': { type: 'string' },
  export: { type: 'string' },
  python: { type: 'string' },
  name: { type: 'string' },
  'key-naming': { type: 'string' },
  root: { type: 'string' },
  secret: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const

type StepValues = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values']

export async function stepCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, 'step')
  if (values.help) {
    io.stdout(`${STEP_HELP}\n`)
    return 0
  }
  // The one place that says which variables are secret here: --secret as a recipe's `secrets:`
  // does in a run, and the project's plugin option `secrets`, as in every run of the project.
  const { options } = await loadPluginOptions(resolve(io.cwd, values.root ?? '.'))
  const redactor = createRedactor([...(values.secret ?? []), ...(options.secrets ?? [])])
  const masked: CliIo = {
    cwd: io.cwd,
    stdout: (text) => io.stdout(redactor.text(text)),
    stderr: (text) => io.stderr(redactor.text(text)),
  }
  // What the scriptlet prints itself (console, process.stdout/stderr writes) is masked on its way out too.
  const capture = new OutputCapture(false)
  capture.install(redactor)
  try {
    return await runStep(values, positionals, masked, redactor)
  } catch (error) {
    if (error instanceof Error) error.message = redactor.text(error.message)
    throw error
  } finally {
    capture.remove()
  }
}

async function runStep(values: StepValues, positionals: string[], io: CliIo, redactor: Redactor): Promise<number> {
  if (positionals.length !== 1)
    throw new UsageError('recipes step needs exactly one scriptlet file (see recipes step --help)')
  const root = resolve(io.cwd, values.root ?? '.')
  const file = resolve(io.cwd, positionals[0]!)
  const step = values.name ?? basename(file, extname(file))
  const keyNaming = values['key-naming'] ?? 'error'
  if (keyNaming !== 'error' && keyNaming !== 'warn' && keyNaming !== 'off')
    throw new UsageError(`--key-naming takes error, warn or off, not "${keyNaming}"`)

  const printEnvelope = (envelope: Envelope) => {
    // Masked as JSON, before it is serialized: a secret with a quote or a backslash is escaped in the text.
    io.stdout(`${JSON.stringify(redactor.json(envelope as unknown as JsonObject))}\n`)
    return envelope.status === 'ok' ? 0 : envelope.exit_code
  }
  const invalid = (reason: string) => printEnvelope(errorEnvelope(step, reason, EXIT_INVALID))

  let params: JsonValue
  let initialContext: JsonObject
  try {
    params = readJsonOption(values.params, values['params-file'], '--params', {}, io.cwd)
    const ctx = readJsonOption(values.ctx, values['ctx-file'], '--ctx', {}, io.cwd)
    if (typeof ctx !== 'object' || ctx === null || Array.isArray(ctx))
      throw new Error('--ctx must be a JSON object of key → value')
    initialContext = ctx
  } catch (error) {
    return invalid((error as Error).message)
  }
  if (!isInside(root, file))
    return invalid(
      `${positionals[0]} is outside the project root ${root}; scriptlets run only from inside the workspace`,
    )
  if (!existsSync(file)) return invalid(`scriptlet file ${positionals[0]} does not exist`)
  const writeContext = (context: JsonObject) => {
    if (values['ctx-out']) writeFileSync(resolve(io.cwd, values['ctx-out']), `${JSON.stringify(context, null, 2)}\n`)
  }
  const kind = commandKind(file)
  if (kind) {
    if (values.export !== undefined)
      return invalid(`--export names a TypeScript export; ${positionals[0]} is a ${kind} scriptlet`)
    if (params === null || typeof params !== 'object')
      return invalid('--params of a script must be a JSON object (environment variables) or a list (arguments)')
    const result = await runScript({
      command: relative(root, file),
      type: kind,
      params,
      initialContext,
      step,
      root,
      keyNaming,
      pythonExecutable: values.python ?? 'python3',
    })
    // `::add-mask::<value>` lines declare values derived from a secret: taken out, and masked everywhere printed.
    const { values: declared, rest } = takeMaskDirectives(result.stderr)
    for (const value of declared) redactor.add(value)
    if (rest) io.stderr(rest.endsWith('\n') ? rest : `${rest}\n`)
    writeContext(result.context)
    return printEnvelope(result.envelope)
  }

  let namespace: Record<string, unknown>
  try {
    const loaded = await runnerImport<Record<string, unknown>>(file, {
      configFile: false,
      root,
      logLevel: 'silent',
      plugins: [resolveOwnEntries()],
    })
    namespace = loaded.module
  } catch (error) {
    io.stderr(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    return invalid(
      `could not load ${positionals[0]}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
    )
  }
  const scriptlet = resolveScriptlet(namespace, values.export)
  if (typeof scriptlet === 'string') return invalid(`${positionals[0]}: ${scriptlet}`)

  const result = await runScriptletStandalone({
    scriptlet,
    params,
    initialContext,
    step,
    root,
    keyNaming,
    secret: (value) => {
      if (!redactor.add(value)) io.stderr('a value declared secret was not masked: it is shorter than 4 characters\n')
    },
  })
  if (result.error instanceof Error) io.stderr(`${describeFailure(result.error)}\n`)
  writeContext(result.context)
  return printEnvelope(result.envelope)
}

/** Runs a shell, python or executable scriptlet; Ctrl-C stops it (and what it started) before this process ends. */
async function runScript(
  options: Omit<Parameters<typeof runCommandStandalone>[0], 'signal'>,
): ReturnType<typeof runCommandStandalone> {
  const stop = new AbortController()
  const onInterrupt = () => stop.abort()
  process.once('SIGINT', onInterrupt)
  try {
    return await runCommandStandalone({ ...options, signal: stop.signal })
  } finally {
    process.off('SIGINT', onInterrupt)
  }
}

/** How a file that is not a TypeScript module runs: by its extension, else as an executable. */
function commandKind(file: string): 'shell' | 'python' | 'exec' | undefined {
  const extension = extname(file)
  if (['.ts', '.mts', '.js', '.mjs'].includes(extension)) return undefined
  if (extension === '.sh') return 'shell'
  if (extension === '.py') return 'python'
  return 'exec'
}

function readJsonOption(
  inline: string | undefined,
  file: string | undefined,
  flag: string,
  fallback: JsonValue,
  cwd: string,
): JsonValue {
  if (inline !== undefined && file !== undefined) throw new Error(`give ${flag} or ${flag}-file, not both`)
  const text = file !== undefined ? readFileSync(resolve(cwd, file), 'utf8') : inline
  if (text === undefined) return fallback
  try {
    return JSON.parse(text) as JsonValue
  } catch (error) {
    throw new Error(
      `${file !== undefined ? `${flag}-file ${file}` : flag} is not valid JSON: ${(error as Error).message}`,
    )
  }
}

/** Expected failures (ScriptletError, DependencyError, ParamsError carry an exit code) need no stack. */
function describeFailure(error: Error): string {
  return 'exitCode' in error ? `${error.name}: ${error.message}` : (error.stack ?? error.message)
}
