// The worker thread of CPU-bound TypeScript steps (requires_process: true). It loads the
// scriptlet with Vite's module runner (worker threads cannot import .ts by themselves),
// runs validate + run against a copy of the recipe's context, and hands back the envelope
// and the writes, which the recipe applies with the step as writer. Plain JavaScript,
// shipped as is, so that it is the same file in this repository and when installed.
import { runnerImport } from 'vite'
import { Context } from '../dist/context/context.js'
import { StepContext } from '../dist/context/step-context.js'
import { invokeScriptlet, resolveScriptlet } from '../dist/scriptlet/invoke.js'
import { errorEnvelope } from '../dist/scriptlet/envelope.js'

const modules = new Map()

async function load(file, root) {
  if (!modules.has(file)) {
    const loaded = await runnerImport(file, { configFile: false, root, logLevel: 'silent' })
    modules.set(file, loaded.module)
  }
  return modules.get(file)
}

/** @param {{ file: string, exportName?: string, params: unknown, values: object, step: string, root: string, keyNaming: 'error' | 'warn' | 'off', valueMaxBytes?: number }} task */
export default async function runCpuStep(task) {
  // process.cpuUsage() counts every thread of the process (and Node 20 has no per-thread
  // figure): a CPU-bound step keeps its thread busy, so its busy time stands for its CPU time.
  const started = performance.now()
  const lines = []
  const resources = () => ({ cpuMs: performance.now() - started, peakRssBytes: 0 })
  let scriptlet
  try {
    scriptlet = resolveScriptlet(await load(task.file, task.root), task.exportName)
  } catch (error) {
    return {
      envelope: errorEnvelope(task.step, `could not load the scriptlet in a worker: ${error.message}`),
      writes: [],
      stderr: String(error.stack ?? error),
      resources: resources(),
    }
  }
  if (typeof scriptlet === 'string')
    return { envelope: errorEnvelope(task.step, scriptlet, 3), writes: [], stderr: '', resources: resources() }
  const ctx = new StepContext(
    new Context(task.values, {
      keyNaming: task.keyNaming,
      warn: (message) => lines.push(message),
      ...(task.valueMaxBytes === undefined ? {} : { valueMaxBytes: task.valueMaxBytes }),
    }),
  )
  const { envelope, error } = await invokeScriptlet(scriptlet, ctx, task.params, {
    step: task.step,
    root: task.root,
    log: (...args) => lines.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' ')),
    // A worker cannot reach the runner's redactor: the directive on its stderr declares the value.
    secret: (value) => lines.push(`::add-mask::${value}`),
  })
  if (error) lines.push(String(error.stack ?? error))
  return {
    envelope,
    writes: ctx.writes.map((write) => [write.key, write.after]),
    stderr: lines.length ? `${lines.join('\n')}\n` : '',
    resources: resources(),
  }
}
