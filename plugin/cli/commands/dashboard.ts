import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { DEFAULT_DB } from '../../compile/options.ts'
import { Dashboard } from '../../live/dashboard.ts'
import { EXIT_OK } from '../../scriptlet/envelope.ts'
import { locateStore } from '../../store/kept-store.ts'
import { parseCommandArgs, UsageError } from '../args.ts'
import type { CliIo } from '../io.ts'
import { loadProject, openStore } from '../project.ts'

export const DASHBOARD_HELP = `Usage: recipes dashboard [--port N] [--host H] [--token T]

Serves a web page of the run store until you stop it (Ctrl-C): the runs (filter by test_id,
status, tester, tag, date), each run's steps on a timeline with their status, duration,
attempts, reason, log, params and envelope, its final ctx and each key's history, its
metrics as a chart, and a test_id's trend across runs. Running recipes update it live.

Options:
  --port <N>    port to listen on (default 4173; 0: any free port)
  --host <H>    address to listen on (default 127.0.0.1); beyond loopback the page needs a
                token (one is made up and printed with the address unless --token gives it)
  --token <T>   the token every request must carry, on loopback too: the printed address
                (?token=T, then a cookie) or Authorization: Bearer T
  -h, --help    show this help

The page answers only to the names it listens on (and localhost, 127.0.0.1, [::1], or an IP
address of this host), at its port: open it by one of those.`

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '::1']

export async function dashboardCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(
    args,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    'dashboard',
  )
  if (values.help) {
    io.stdout(`${DASHBOARD_HELP}\n`)
    return EXIT_OK
  }
  const port = Number(values.port ?? 4173)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port takes a port number (0: any free port), not "${values.port}"`)
  const host = values.host ?? '127.0.0.1'
  if (values.token !== undefined && !/^[A-Za-z0-9._~-]{16,}$/.test(values.token))
    throw new UsageError(
      '--token takes at least 16 letters, digits, ".", "_", "~" or "-" (it goes in a URL and a cookie)',
    )
  const loopback = LOOPBACK_HOSTS.includes(host)
  // Beyond loopback anyone on the network could read every run: never without a token.
  const token = values.token ?? (loopback ? undefined : randomBytes(24).toString('base64url'))
  const project = await loadProject(io.cwd)
  const store = await openStore(project)
  const storePath = locateStore(project.root, project.options.db ?? DEFAULT_DB).path
  let dashboard: Dashboard
  try {
    dashboard = await Dashboard.start({
      root: project.root,
      logsDir: resolve(project.root, project.options.logsDir ?? 'Logs'),
      store,
      storePath,
      host,
      port,
      ...(token === undefined ? {} : { token }),
    })
  } catch (error) {
    await store.close()
    throw new UsageError((error as Error).message)
  }
  const address = `${dashboard.url}/${token === undefined ? '' : `?token=${token}`}`
  io.stdout(`recipes dashboard: ${address} (the run store ${store.path}; Ctrl-C to stop)\n`)
  if (!loopback)
    io.stderr(`recipes dashboard: listening on ${host}: anyone who can reach it and has the token can read every run\n`)
  await new Promise<void>((done) => {
    const stop = () => done()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await dashboard.close()
  await store.close()
  return EXIT_OK
}
