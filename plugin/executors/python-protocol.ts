import type { ContextWrite } from '../context/context.ts'
import type { StepContext } from '../context/step-context.ts'
import type { JsonValue } from '../context/json-value.ts'
import { EXIT_FAILED, errorEnvelope, normalizeEnvelope, type Envelope } from '../scriptlet/envelope.ts'
import { applyEnvelopeContext } from './output.ts'

/**
 * What a python file defines, read by the host without running it (python's ast): its
 * top-level classes (`run`: it has run(), its own or a base's of the same file), functions
 * and imported names, and whether it has an `if __name__ == "__main__":` block.
 */
export interface PythonFileOutline {
  classes: { name: string; run: boolean }[]
  functions: string[]
  imported: string[]
  main_block: boolean
}

export interface HostMessage extends Partial<PythonFileOutline> {
  type: 'ready' | 'ctx' | 'done' | 'outline'
  rid?: number
  phase?: 'validate' | 'run'
  method?: string
  key?: string
  value?: JsonValue
  who?: string
  result?: JsonValue
  stdout?: string
  /**
   * The host's own measurement of the step: its CPU time, and its peak RSS during the step
   * (null when the kernel would not reset the host's peak and the step set no new one).
   */
  resources?: { cpuMs: number; peakRssBytes: number | null }
  error?: { type: string; message: string; phase: string; exit_code: number | null; traceback: string }
  /** Set when the scriptlet called sys.exit: the exit status and the argument as Python wrote it. */
  sys_exit?: { code: number; argument: string }
}

/** Answers a scriptlet's ctx call; validate sees a read-only context. */
export function answerContextCall(message: HostMessage, context: StepContext): object {
  const ctx = message.phase === 'validate' ? context.readOnlyView(`${message.phase}`) : context
  const reply = (value: unknown) => ({ type: 'ctx_result', rid: message.rid, ok: true, value: value ?? null })
  const key = message.key ?? ''
  try {
    switch (message.method) {
      case 'get':
        return reply(ctx.get(key))
      case 'has':
        return reply(ctx.has(key))
      case 'keys':
        return reply(ctx.keys())
      case 'to_dict':
        return reply(ctx.toJSON())
      case 'history':
        return reply(ctx.history(message.key ?? undefined).map(withOlderNames))
      case 'last_modified': {
        const last = ctx.lastModified(key)
        return reply(last && withOlderNames(last))
      }
      case 'set':
        ctx.set(key, message.value ?? null, { who: message.who ?? '' })
        return reply(null)
      default:
        return { type: 'ctx_result', rid: message.rid, ok: false, error: `unknown ctx method ${message.method}` }
    }
  } catch (error) {
    return { type: 'ctx_result', rid: message.rid, ok: false, error: (error as Error).message }
  }
}

/** History entries also carry the older framework's names, `old` and `new`. */
function withOlderNames(write: ContextWrite): object {
  return { ...write, before: write.before ?? null, old: write.before ?? null, new: write.after }
}

/**
 * Maps both older styles back to an envelope: run() returning a dict envelope, or printing
 * its JSON line and returning an int exit code (None counts as 0).
 */
export function envelopeFromHost(
  message: HostMessage,
  ctx: StepContext,
  step: string,
): { envelope: Envelope; traceback: string } {
  if (message.error) {
    const { type, message: text, phase, exit_code: exitCode, traceback } = message.error
    return { envelope: errorEnvelope(step, `${type}: ${text}`, exitCode ?? EXIT_FAILED, { type, phase }), traceback }
  }
  const result = message.result
  try {
    const printed = printedEnvelope(message.stdout ?? '')
    if (message.sys_exit && message.sys_exit.code !== 0) {
      return { envelope: envelopeFromSysExit(message.sys_exit, printed, ctx, step), traceback: '' }
    }
    if (typeof result === 'object' && result !== null && !Array.isArray(result)) {
      applyEnvelopeContext(result, ctx, step)
      return { envelope: normalizeEnvelope(result, step, ctx.writtenKeys()), traceback: '' }
    }
    const code = typeof result === 'number' ? result : 0
    if (printed !== undefined) {
      const printedEnvelope = printed
      applyEnvelopeContext(printedEnvelope, ctx, step)
      const envelope = normalizeEnvelope(printedEnvelope, step, ctx.writtenKeys())
      if (envelope.status === 'ok' && code !== 0)
        return {
          envelope: errorEnvelope(step, `run() returned exit code ${code} although it printed an ok envelope`, code),
          traceback: '',
        }
      if (envelope.status === 'error' && code !== 0) envelope.exit_code = code
      return { envelope, traceback: '' }
    }
    return { envelope: normalizeEnvelope(code, step, ctx.writtenKeys()), traceback: '' }
  } catch (error) {
    return {
      envelope: errorEnvelope(step, `could not read the step's envelope: ${(error as Error).message}`, EXIT_FAILED),
      traceback: '',
    }
  }
}

/**
 * The envelope a scriptlet printed: the last stdout line that is a JSON object with a `status`
 * (else the last JSON object line; `json.dumps(envelope, indent=2)` is read whole). Other lines are output for the step log, even when they
 * start with `{` (a printed Python dict, a JSON log line): the older runner went by run()'s
 * exit code and never parsed them. A line that looks like a JSON envelope but is not one
 * (`NaN` in it) is an error when no readable envelope was printed.
 */
function printedEnvelope(stdout: string): object | undefined {
  let withoutStatus: object | undefined
  let unreadable: Error | undefined
  const lines = stdout.split('\n')
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim()
    if (!line.startsWith('{')) continue
    try {
      const value = JSON.parse(lines[i]!.trimEnd() === '{' ? indentedObject(lines, i) : line) as unknown
      if (typeof value !== 'object' || value === null || Array.isArray(value)) continue
      if ('status' in value) return value
      withoutStatus ??= value
    } catch (error) {
      if (line.includes('"status"')) unreadable ??= error as Error
    }
  }
  if (withoutStatus === undefined && unreadable) throw unreadable
  return withoutStatus
}

/** The object `json.dumps(value, indent=n)` printed from line `start` (a lone `{`) to its lone `}`. */
function indentedObject(lines: readonly string[], start: number): string {
  const end = lines.findIndex((line, at) => at > start && line.trimEnd() === '}')
  return end < 0 ? '{' : lines.slice(start, end + 1).join('\n')
}

/**
 * A scriptlet that called sys.exit(n), n ≠ 0, failed with exit code n, as its process would
 * have when run on its own; an error envelope it printed first gives its reason and details.
 */
function envelopeFromSysExit(
  exit: { code: number; argument: string },
  printed: object | undefined,
  ctx: StepContext,
  step: string,
): Envelope {
  const exitCode = exit.code > 0 ? exit.code : EXIT_FAILED
  const reason = `the scriptlet called sys.exit(${exit.argument})`
  if (printed === undefined) return errorEnvelope(step, reason, exitCode, { sys_exit: exit.code })
  applyEnvelopeContext(printed, ctx, step)
  const envelope = normalizeEnvelope(printed, step, ctx.writtenKeys())
  if (envelope.status === 'ok') return errorEnvelope(step, `${reason} although it printed an ok envelope`, exitCode)
  return { ...envelope, reason: `${reason}: ${envelope.reason}`, exit_code: exitCode }
}
