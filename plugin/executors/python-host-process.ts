import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { STEP_TOKEN_VARIABLE, TOKEN_PREFIX } from './process-tree.ts'
import { ensureRunnerGuard } from './runner-guard.ts'
import type { PythonHostOptions } from './python-host.ts'

// Kept apart from python-host.ts, with only Node built-ins and process-tree.ts to load: the
// runtime starts a host while Vitest collects a recipe file, before any step needs the rest.

/** The host script shipped with the package (python/recipes_host.py). */
export const HOST_SCRIPT = fileURLToPath(new URL('../../python/recipes_host.py', import.meta.url))

/** A host interpreter, started, and the environment it was given (process.env then, without a step token). */
export interface HostProcess {
  child: ChildProcessWithoutNullStreams
  env: NodeJS.ProcessEnv
}

/** Starts the host interpreter; it answers with a `ready` line on stdout once it listens. */
export function spawnPythonHost({ executable, path, root }: PythonHostOptions): HostProcess {
  // Not the step token of a step vitest may run inside: each step sets its own for what it
  // starts; the host's own (`<prefix>.host`) matches no step, and lets this worker's runner
  // guard stop the host (and the scriptlet it runs) if the worker dies.
  const { [STEP_TOKEN_VARIABLE]: _outer, ...env } = process.env
  ensureRunnerGuard()
  const child = spawn(executable, [HOST_SCRIPT], {
    cwd: root,
    env: {
      ...env,
      [STEP_TOKEN_VARIABLE]: `${TOKEN_PREFIX}.host`,
      RECIPES_PYTHON_PATH: JSON.stringify(path),
      PYTHONUNBUFFERED: '1',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  })
  return { child, env }
}

/** Hosts started ahead of their first step, by the options they were started with. */
const prestarted = new Map<string, HostProcess>()

function optionsKey({ executable, path, root }: PythonHostOptions): string {
  return JSON.stringify([executable, path, root])
}

/**
 * Starts a Python host for a recipe file whose python steps have not run yet, so that its
 * first python step does not wait for the interpreter to start: called when the recipe
 * file's module is loaded, while Vitest collects its tests. The recipe file's first python
 * host takes it over (takePrestartedHost). Until then it runs nothing and keeps nothing
 * alive; one that is never taken over (`vitest list`, a run of other steps only) ends when
 * this process ends and its stdin closes.
 */
export function prestartPythonHost(options: PythonHostOptions): void {
  const key = optionsKey(options)
  if (prestarted.has(key)) return
  let host: HostProcess
  // A start that failed is reported by the step that would have used the host, which starts its own.
  try {
    host = spawnPythonHost(options)
  } catch {
    return
  }
  host.child.on('error', () => {})
  host.child.stdin.on('error', () => {})
  holdProcess(host.child, false)
  prestarted.set(key, host)
}

/**
 * The host prestartPythonHost started with these options, if it is still running with the
 * environment a host started now would get; else undefined (and that host is ended).
 */
export function takePrestartedHost(options: PythonHostOptions): HostProcess | undefined {
  const key = optionsKey(options)
  const host = prestarted.get(key)
  if (!host) return undefined
  prestarted.delete(key)
  const { child } = host
  const running = child.pid !== undefined && child.exitCode === null && child.signalCode === null
  // A step may have changed process.env since (a token it fetched): a new host gets the change,
  // as it would have without the prestart.
  if (!running || !sameEnvironment(host.env, process.env)) {
    child.stdin.end()
    if (running) child.kill()
    return undefined
  }
  holdProcess(child, true)
  return host
}

function sameEnvironment(started: NodeJS.ProcessEnv, now: NodeJS.ProcessEnv): boolean {
  const { [STEP_TOKEN_VARIABLE]: _outer, ...current } = now
  const names = Object.keys(current)
  return names.length === Object.keys(started).length && names.every((name) => started[name] === current[name])
}

/** Whether the host's process and pipes keep this process alive (not while it waits, prestarted). */
function holdProcess(child: ChildProcessWithoutNullStreams, hold: boolean): void {
  for (const handle of [child, child.stdin, child.stdout, child.stderr] as Partial<Socket>[]) {
    if (hold) handle.ref?.()
    else handle.unref?.()
  }
}
