import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { basename, extname, relative, resolve } from 'node:path'
import { runnerImport } from 'vite'
import { resolveOwnEntries } from '../../compile/own-entries.ts'
import { PythonHost } from '../../executors/python-host.ts'
import { runCommandStandalone, runPythonModuleStandalone } from '../../executors/standalone.ts'
import { DEFAULT_PYTHON_PATH, type RecipesOptions } from '../../compile/options.ts'
import { pythonFileImport, pythonSearchPath } from '../../recipe/python-module.ts'
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
envelope line on stdout (logs go to stderr). Every kind a recipe runs:
  TypeScript module (.ts, .js, .mjs)  its default export, or the export --export names
  Python module (.py)                 in the Python host, as a recipe's module: step: the class
                                      --class names, else the file's one class with
                                      run(ctx, params), else its run(ctx, params) function;
                                      validate(ctx, params) first when the class has one
  Python script (.py)                 a file with none of those, or an if __name__ == "__main__":
                                      block and no such class (or --script): python3 <file> --params <json>
  shell script (.sh), executable      run as a whole
--export, --class and --function say the same (as a recipe's function: and class: do): what to
call inside a TypeScript or Python module; a script takes its inputs from --params only.
Mapping params of a script become environment variables, list params its arguments; it
reads the starting context from the file named by RECIPES_CTX_FILE.
Secrets are masked in everything it prints (the envelope, stderr, error messages) as in a
recipe run: values of variables named with --secret or by the project's plugin option
secrets, or whose names end in _TOKEN, _PASSWORD, _SECRET or _KEY, and values the scriptlet declares secret (tools.secret, or an
::add-mask::<value> line on stderr, which is taken out). --ctx-out keeps the real values.
Exit code: 0 ok, 1 failed, 2 dependency not satisfied, 3 invalid input (params, context,
module, export or class); a script's own exit code otherwise.

Options:
  --params <json>        Parameters of the scriptlet (default {})
  --params-file <path>   Read the parameters from a JSON file
  --ctx <json>           Context to start from (default {})
  --ctx-file <path>      Read the starting context from a JSON file
  --ctx-out <path>       Write the final context to this JSON file
  --export <name>        The export (TypeScript) or class or function (Python) to run
  --class <Name>         The same as --export (a class of a Python or TypeScript module)
  --function <name>      The same as --export (a function of a Python or TypeScript module)
  --script               Python: run the file as a script (python3 <file> --params <json>)
  --python <exe>         Python: the interpreter (default: the plugin option python.executable, else python3)
  --name <step>          Step name used for who/step (default: the file name)
  --key-naming <mode>    error | warn | off: keys that are not namespace.entity_vN (default error)
  --root <dir>           Project root; the scriptlet must be inside it (default: cwd)
  --secret <NAME>        The value of this environment variable is a secret (repeatable),
                         as a recipe's secrets: list says
  -h, --help             Show this help

Examples:
  recipes step scriptlets/steps/load_numbers.ts --params '{"src":"Data/numbers.txt"}'
  recipes step scriptlets/python/summarize.py --ctx '{"example.greeting_v1":"Hi","example.words_v1":1}'
  recipes step scriptlets/python/steps.py --class ComputeNumbers --params '{"n":3}'
  recipes step scriptlets/shell/sanitize_csv.sh --params '{"INPUT":"Data/raw_numbers.csv","OUTPUT":"/tmp/clean.csv"}'`

const OPTIONS = {
  params: { type: 'string' },
  'params-file': { type: 'string' },
  ctx: { type: 'string' },
  'ctx-file': { type: 'string' },
  'ctx-out': { type: 'string' },
  export: { type: 'string' },
  class: { type: 'string' },
  function: { type: 'string' },
  script: { type: 'boolean' },
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
    return await runStep(values, positionals, masked, redactor, options)
  } catch (error) {
    if (error instanceof Error) error.message = redactor.text(error.message)
    throw error
  } finally {
    capture.remove()
  }
}

async function runStep(
  values: StepValues,
  positionals: string[],
  io: CliIo,
  redactor: Redactor,
  options: RecipesOptions,
): Promise<number> {
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
  const named = namedTarget(values)
  const kind = commandKind(file)
  const shown = positionals[0]!
  if (kind === 'python' && !values.script) {
    const python = await pythonModuleStep({ file, shown, named, values, options, root })
    if (python.run === 'invalid') return invalid(python.reason)
    if (python.run === 'module') {
      if (params === null || typeof params !== 'object' || Array.isArray(params)) {
        python.target.host.close()
        return invalid('--params of a python module must be a JSON object (its params, as a recipe step gives them)')
      }
      const moduleParams = params
      const result = await withInterrupt((signal) =>
        runPythonModuleStandalone({
          ...python.target,
          params: moduleParams,
          initialContext,
          step,
          root,
          keyNaming,
          signal,
        }),
      ).finally(() => python.target.host.close())
      // What it printed goes to stderr: stdout is the envelope's. Masked (::add-mask:: taken out) as a script's is.
      const printed = `${result.stdout}${result.stderr}`
      const { values: declared, rest } = takeMaskDirectives(printed)
      for (const value of declared) redactor.add(value)
      if (rest) io.stderr(rest.endsWith('\n') ? rest : `${rest}\n`)
      writeContext(result.context)
      return printEnvelope(result.envelope)
    }
  }
  if (kind) {
    if (named)
      return invalid(
        `${shown} is ${describeKind(kind)}, run as a whole: ${named.flag} ${NAMES}; give a script its inputs with --params`,
      )
    if (params === null || typeof params !== 'object')
      return invalid('--params of a script must be a JSON object (environment variables) or a list (arguments)')
    const result = await withInterrupt((signal) =>
      runCommandStandalone({
        command: relative(root, file),
        type: kind,
        params,
        initialContext,
        step,
        root,
        keyNaming,
        pythonExecutable: values.python ?? options.python?.executable ?? 'python3',
        signal,
      }),
    )
    // `::add-mask::<value>` lines declare values derived from a secret: taken out, and masked everywhere printed.
    const { values: declared, rest } = takeMaskDirectives(result.stderr)
    for (const value of declared) redactor.add(value)
    if (rest) io.stderr(rest.endsWith('\n') ? rest : `${rest}\n`)
    writeContext(result.context)
    return printEnvelope(result.envelope)
  }
  if (values.script) return invalid(`--script runs a Python file as a script; ${shown} is a TypeScript module`)

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
  const scriptlet = resolveScriptlet(namespace, named?.name)
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

/** Runs a scriptlet in another process; Ctrl-C stops it (and what it started) before this process ends. */
async function withInterrupt<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController()
  const onInterrupt = () => stop.abort()
  process.once('SIGINT', onInterrupt)
  try {
    return await run(stop.signal)
  } finally {
    process.off('SIGINT', onInterrupt)
  }
}

/** What --export, --class and --function say (the same, as a recipe's `function:` and `class:` are): what to call inside a module. */
const NAMES = 'names what to call inside a Python or TypeScript module'

interface NamedTarget {
  flag: '--export' | '--class' | '--function'
  name: string
}

function namedTarget(values: StepValues): NamedTarget | undefined {
  const given = (['export', 'class', 'function'] as const)
    .filter((flag) => values[flag] !== undefined)
    .map((flag) => ({ flag: `--${flag}` as const, name: values[flag]! }))
  if (given.length > 1)
    throw new UsageError(`${given.map((item) => item.flag).join(' and ')} say the same thing (${NAMES}); give one`)
  if (given.length === 1 && values.script)
    throw new UsageError(`--script runs the file as a whole; ${given[0]!.flag} ${NAMES}: give one of them`)
  return given[0]
}

function describeKind(kind: 'shell' | 'python' | 'exec'): string {
  return kind === 'shell' ? 'a shell script' : kind === 'python' ? 'a python script' : 'an executable'
}

type PythonModuleStep =
  | { run: 'module'; target: { host: PythonHost; module: string; attr: string | undefined } }
  | { run: 'script' }
  | { run: 'invalid'; reason: string }

/**
 * How `recipes step` runs a python file, decided from what it defines (read without running
 * it): the class named by --class (or --function, --export), else its one class with
 * run(ctx, params), else its run(ctx, params) function, each in the Python host as a recipe's
 * `module:` step runs; a file with none of these (a script) runs as `python3 <file> --params`.
 */
async function pythonModuleStep(input: {
  file: string
  shown: string
  named: NamedTarget | undefined
  values: StepValues
  options: RecipesOptions
  root: string
}): Promise<PythonModuleStep> {
  const { file, shown, named, values, options, root } = input
  const configured = (options.python?.path ?? DEFAULT_PYTHON_PATH).map((folder) => resolve(root, folder))
  const found = pythonFileImport(file, pythonSearchPath(configured, root), root)
  const host = new PythonHost({
    executable: values.python ?? options.python?.executable ?? 'python3',
    path: found?.folder ? [found.folder, ...configured] : configured,
    root,
  })
  const decided = decidePython(await host.outline(file), shown, named, found !== undefined)
  if (decided.run !== 'module') {
    host.close()
    return decided
  }
  return { run: 'module', target: { host, module: found!.module, attr: decided.attr } }
}

function decidePython(
  outline: Awaited<ReturnType<PythonHost['outline']>>,
  shown: string,
  named: NamedTarget | undefined,
  importable: boolean,
): { run: 'module'; attr: string | undefined } | { run: 'script' } | { run: 'invalid'; reason: string } {
  if ('error' in outline) {
    const where = outline.line === undefined ? shown : `${shown}:${outline.line}:${outline.column ?? 1}`
    return { run: 'invalid', reason: `${where}: ${outline.error}` }
  }
  const runClasses = outline.classes.filter((item) => item.run).map((item) => item.name)
  const listing = [
    `its classes with run(ctx, params): ${runClasses.join(', ') || '(none)'}`,
    ...(outline.functions.length > 0 ? [`its functions: ${outline.functions.join(', ')}`] : []),
  ].join('; ')
  let attr: string | undefined
  if (named) {
    const what = named.flag === '--class' ? 'class' : named.flag === '--function' ? 'function' : 'class or function'
    const known = [...outline.classes.map((item) => item.name), ...outline.functions, ...outline.imported]
    if (!known.includes(named.name))
      return { run: 'invalid', reason: `${shown} has no ${what} ${named.name}; ${listing}` }
    attr = named.name
  } else if (runClasses.length > 1) {
    return {
      run: 'invalid',
      reason: `${shown} defines ${runClasses.length} classes with run(ctx, params): ${runClasses.join(', ')}; name the one to run with --class <Name>`,
    }
  } else if (runClasses.length === 1) {
    attr = runClasses[0]
  } else if (outline.main_block || !outline.functions.some((name) => name === 'run' || name === 'main')) {
    // No class or function a recipe step would call: a script, run as a whole.
    return { run: 'script' }
  }
  if (!importable)
    return {
      run: 'invalid',
      reason: `${shown} cannot be imported by Python: its name is not a Python identifier (rename it, e.g. with _ for -), or run it as a script with --script`,
    }
  return { run: 'module', attr }
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
