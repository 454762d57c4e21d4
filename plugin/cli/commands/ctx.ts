import { readFileSync } from 'node:fs'
import { hostname, userInfo } from 'node:os'
import type { JsonObject, JsonValue } from '../../context/json-value.ts'
import { callCtxServer, CtxUnreachableError } from '../../live/ctx-client.ts'
import { CTX_OPERATIONS, type CtxOperation, type CtxRequest } from '../../live/ctx-operations.ts'
import { liveEndpoints } from '../../live/endpoints.ts'
import { EXIT_DEPENDENCY, EXIT_FAILED, EXIT_INVALID, EXIT_OK } from '../../scriptlet/envelope.ts'
import { locateStore } from '../../store/kept-store.ts'
import { parseCommandArgs, UsageError } from '../args.ts'
import type { CliIo } from '../io.ts'

export const CTX_HELP = `Usage: recipes ctx <operation> [key] [value] [options]

Reads and writes the context of a running recipe (each recipe file serves its ctx while it
runs), or reads the final context of a finished run from the run store: the older
framework's update_state.sh. Prints one JSON object on stdout.

Operations:
  full                   every key, its value and revision
  get <key>              { key, value, revision }
  set <key> <json>       writes a JSON value (quote strings: '"up"')
  append <key> <json>    appends to a list (a missing key becomes a list of one)
  delete <key>           removes the key
  pop <key> [index]      removes an item of a list: the last, or the one at index
                         (negative counts from the end); prints it as "popped"

Options:
  --run <run_id>|last  which run: a running one, else a stored one (default: the run of
                       the step this runs in (RECIPES_CTX_URL), else the newest running
                       recipe, else the last stored run)
  --who <name>         the writer the ctx history records (default: the step this runs in
                       (RECIPES_STEP), else <user>@<host>)
  --revision <n>       write only if the key is still at revision n (0: only if it does not
                       exist yet); otherwise nothing is written and the current revision is
                       printed (exit 1)
  --url <url>          a ctx server by address (another host); its token comes from
                       --token-file or RECIPES_CTX_TOKEN
  --token-file <file>  the file holding the token (the run's endpoint file works too)
  --reveal             print secret values in clear (said on stderr); without it they show
                       as the stored run shows them, ***{NAME} (the variable they came
                       from) or ***{derived}. Inside a step, reads of its own run get the
                       values in clear: the step needs them, and its output is masked
  -h, --help           show this help

Exit codes: 0 done; 1 refused (no such key, not a list, another writer changed the key
first, a value over the ctx value limit: write large data to a file under Data/ and store
its path); 2 the run is not running (a write to a finished run) or its server cannot be
reached; 3 bad usage (a value that is not JSON, a key that breaks the naming rule, no token).`

/** Where the operation goes: a live server, or the store (reads of a finished run). */
type Target =
  | { kind: 'server'; url: string; token: string; runId?: string; ownRun?: boolean }
  | { kind: 'store'; runId: string; status: string; values: JsonObject }

export async function ctxCommand(args: string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      run: { type: 'string' },
      who: { type: 'string' },
      revision: { type: 'string' },
      url: { type: 'string' },
      'token-file': { type: 'string' },
      reveal: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    'ctx',
  )
  if (values.help) {
    io.stdout(`${CTX_HELP}\n`)
    return EXIT_OK
  }
  const request = parseRequest(positionals, values, env)
  const target = await findTarget(values, io, env)
  if (target.kind === 'store') {
    if (values.reveal)
      io.stderr(
        `recipes ctx: --reveal: run ${target.runId} has ended; its store keeps secrets as references (***{NAME}), never their values\n`,
      )
    return answerFromStore(target, request, io)
  }
  // A step reading its own run gets the values (its output is masked by the run); a person asks with --reveal.
  const reveal = values.reveal === true || target.ownRun === true
  if (values.reveal) io.stderr('recipes ctx: --reveal: secret values are printed in clear\n')
  let reply: Awaited<ReturnType<typeof callCtxServer>>
  try {
    reply = await callCtxServer(target.url, target.token, request, { reveal })
  } catch (error) {
    if (!(error instanceof CtxUnreachableError)) throw error
    io.stderr(
      `recipes ctx: ${error.message}; the run may have ended (recipes ctx get <key> --run <id> reads its stored ctx)\n`,
    )
    return EXIT_DEPENDENCY
  }
  const run = target.runId === undefined ? {} : { run: target.runId }
  if (reply.status === 200) {
    io.stdout(`${JSON.stringify({ ...run, ...reply.body })}\n`)
    return EXIT_OK
  }
  const problem = reply.body.error as { code?: string; message?: string; revision?: number } | undefined
  io.stdout(`${JSON.stringify({ ...run, ...reply.body })}\n`)
  io.stderr(`recipes ctx: ${problem?.message ?? `the server answered ${reply.status}`}\n`)
  if (reply.status === 401) return EXIT_INVALID
  if (reply.status === 400 || (reply.status === 422 && problem?.code?.startsWith('CTX_KEY'))) return EXIT_INVALID
  if (reply.status === 422 && problem?.code === 'CTX_INVALID_VALUE') return EXIT_INVALID
  return EXIT_FAILED
}

function parseRequest(
  positionals: string[],
  values: { who?: string | undefined; revision?: string | undefined },
  env: NodeJS.ProcessEnv,
): CtxRequest {
  const [op, key, value, ...rest] = positionals
  if (op === undefined)
    throw new UsageError(
      'recipes ctx needs an operation: full, get, set, append, delete or pop (see recipes ctx --help)',
    )
  if (!(CTX_OPERATIONS as readonly string[]).includes(op))
    throw new UsageError(`unknown operation "${op}": use ${CTX_OPERATIONS.join(', ')} (see recipes ctx --help)`)
  const operation = op as CtxOperation
  const wants = { full: 0, get: 1, delete: 1, set: 2, append: 2, pop: 1 }[operation]
  const allowed = operation === 'pop' ? 2 : wants
  const given = [key, value, ...rest].filter((item) => item !== undefined).length
  if (given < wants || given > allowed)
    throw new UsageError(
      `recipes ctx ${operation} takes ${operation === 'full' ? 'no key' : operation === 'pop' ? 'a key and an optional index' : wants === 2 ? 'a key and a JSON value' : 'a key'} (see recipes ctx --help)`,
    )
  const request: CtxRequest = { op: operation }
  if (key !== undefined) request.key = key
  if (operation === 'set' || operation === 'append') request.value = parseJson(value!, operation, key!)
  if (operation === 'pop' && value !== undefined) {
    const index = Number(value)
    if (!Number.isInteger(index)) throw new UsageError(`pop's index must be a whole number, not "${value}"`)
    request.index = index
  }
  if (operation !== 'full' && operation !== 'get') request.who = values.who ?? env.RECIPES_STEP ?? defaultWho()
  if (values.revision !== undefined) {
    const revision = Number(values.revision)
    if (!Number.isInteger(revision) || revision < 0)
      throw new UsageError(`--revision takes a whole number, 0 or more, not "${values.revision}"`)
    request.expectRevision = revision
  }
  return request
}

function parseJson(text: string, op: string, key: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue
  } catch {
    throw new UsageError(
      `the value for ${op} ${key} is not JSON: ${JSON.stringify(text)}; the ctx holds JSON values only (a string is quoted: '"${text}"')`,
    )
  }
}

function defaultWho(): string {
  let user = 'user'
  try {
    user = userInfo().username
  } catch {
    // No user name in this environment: the host alone tells who.
  }
  return `${user}@${hostname()}`
}

async function findTarget(
  values: { run?: string | undefined; url?: string | undefined; 'token-file'?: string | undefined },
  io: CliIo,
  env: NodeJS.ProcessEnv,
): Promise<Target> {
  if (values.url !== undefined) return { kind: 'server', url: values.url, token: readToken(values['token-file'], env) }
  // Inside a step of a running recipe: its own run, unless another one is named.
  if (values.run === undefined && env.RECIPES_CTX_URL && env.RECIPES_CTX_TOKEN)
    return {
      kind: 'server',
      url: env.RECIPES_CTX_URL,
      token: env.RECIPES_CTX_TOKEN,
      ...(env.RECIPES_RUN_ID ? { runId: env.RECIPES_RUN_ID } : {}),
      ownRun: true,
    }
  // Loaded only here: inside a step (above) the CLI needs neither Vite nor SQLite.
  const [{ loadProject, withStore }, { DEFAULT_DB }] = await Promise.all([
    import('../project.ts'),
    import('../../compile/options.ts'),
  ])
  const project = await loadProject(io.cwd)
  const db = project.options.db ?? DEFAULT_DB
  const wanted = values.run ?? 'last'
  const live = liveEndpoints(locateStore(project.root, db).path)
  const running =
    wanted === 'last'
      ? live[0]
      : live.find((endpoint) => endpoint.runId === wanted || endpoint.runId.startsWith(wanted))
  if (running) return { kind: 'server', url: running.url, token: running.token, runId: running.runId }
  return withStore(project, async (store) => {
    const found = await store.findRun(wanted)
    if ('error' in found) throw new UsageError(found.error)
    const run = (await store.readRun(found.runId))!
    const values: JsonObject = {}
    for (const row of run.context) values[row.key] = row.value
    return { kind: 'store', runId: found.runId, status: run.run.status, values }
  })
}

function readToken(file: string | undefined, env: NodeJS.ProcessEnv): string {
  if (file === undefined) {
    if (env.RECIPES_CTX_TOKEN) return env.RECIPES_CTX_TOKEN
    throw new UsageError("--url needs the run's token: --token-file <file> or RECIPES_CTX_TOKEN")
  }
  let text: string
  try {
    text = readFileSync(file, 'utf8').trim()
  } catch (error) {
    throw new UsageError(`cannot read the token file ${file}: ${(error as Error).message}`)
  }
  // The run's endpoint file (JSON with a token) or a file holding the token alone.
  if (text.startsWith('{')) {
    try {
      const token = (JSON.parse(text) as { token?: unknown }).token
      if (typeof token === 'string') return token
    } catch {
      // Not the endpoint file: the text is the token.
    }
  }
  return text
}

/** A finished (or not served) run: its stored final ctx answers reads; writes are refused. */
function answerFromStore(target: Extract<Target, { kind: 'store' }>, request: CtxRequest, io: CliIo): number {
  const run = { run: target.runId, live: false }
  if (request.op === 'full') {
    io.stdout(`${JSON.stringify({ ...run, values: target.values })}\n`)
    return EXIT_OK
  }
  if (request.op === 'get') {
    const key = request.key!
    if (!(key in target.values)) {
      io.stdout(`${JSON.stringify({ ...run, error: { code: 'CTX_NOT_FOUND', message: `ctx has no "${key}"` } })}\n`)
      io.stderr(`recipes ctx: run ${target.runId} ended with no "${key}" in its ctx\n`)
      return EXIT_FAILED
    }
    io.stdout(`${JSON.stringify({ ...run, key, value: target.values[key] })}\n`)
    return EXIT_OK
  }
  io.stderr(
    target.status === 'running'
      ? `recipes ctx: run ${target.runId} serves no ctx (the plugin option ctxServer is false), so ${request.op} cannot reach it\n`
      : `recipes ctx: run ${target.runId} is not running (${target.status}): its ctx can no longer change; ${request.op} needs a running recipe\n`,
  )
  return EXIT_DEPENDENCY
}
