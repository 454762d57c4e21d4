import { DEFAULT_DB } from '../../compile/vite-plugin.ts'
import { Dashboard } from '../../live/dashboard.ts'
import { EXIT_OK } from '../../scriptlet/envelope.ts'
import { locateStore } from '../../store/kept-store.ts'
import { parseCommandArgs, UsageError } from '../args.ts'
import type { CliIo } from '../io.ts'
import { loadProject, openStore } from '../project.ts'

export const DASHBOARD_HELP = `Usage: recipes dashboard [--port N] [--host H]

Serves a web page of the run store until you stop it (Ctrl-C): the runs (filter by test_id,
status, tester, tag, date), each run's steps on a timeline with their status, duration,
attempts, reason, log, params and envelope, its final ctx and each key's history, its
metrics as a chart, and a test_id's trend across runs. Running recipes update it live.

Options:
  --port <N>    port to listen on (default 4173; 0: any free port)
  --host <H>    address to listen on (default 127.0.0.1; the page has no login, so keep it
                on loopback unless the network is yours)
  -h, --help    show this help`

export async function dashboardCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(
    args,
    { port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
  const project = await loadProject(io.cwd)
  const store = openStore(project)
  const storePath = locateStore(project.root, project.options.db ?? DEFAULT_DB).path
  let dashboard: Dashboard
  try {
    dashboard = await Dashboard.start({ root: project.root, store, storePath, host, port })
  } catch (error) {
    store.close()
    throw new UsageError((error as Error).message)
  }
  io.stdout(`recipes dashboard: ${dashboard.url}/ (the run store ${store.path}; Ctrl-C to stop)\n`)
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1')
    io.stderr(
      `recipes dashboard: listening on ${host}: anyone who can reach it can read every run (there is no login)\n`,
    )
  await new Promise<void>((resolve) => {
    const stop = () => resolve()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await dashboard.close()
  store.close()
  return EXIT_OK
}
