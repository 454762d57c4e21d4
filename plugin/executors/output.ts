import type { StepContext } from '../context/step-context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import type { OutputParse } from '../recipe/types.ts'
import { EXIT_FAILED, errorEnvelope, normalizeEnvelope, type Envelope } from '../scriptlet/envelope.ts'
import { type ChildProcessResult, MAX_OUTPUT_BYTES } from './child-process.ts'

const HEAD_BYTES = 200

/**
 * Turns what a child process printed into the step's envelope: exactly one JSON line on
 * stdout (`parse: json`), or its lines / text wrapped into an ok envelope. Anything else is
 * an error envelope that quotes what came back. The envelope's `ctx` field, if any, is
 * written to the context as the step.
 */
export function envelopeFromOutput(
  result: ChildProcessResult,
  parse: OutputParse,
  program: string,
  step: string,
  ctx: StepContext,
): Envelope {
  const details = (extra: JsonObject = {}): JsonObject => ({
    ...extra,
    exit_code: result.exitCode ?? null,
    stdout_head: head(result.stdout),
    stderr_tail: tail(result.stderr),
  })
  if (result.startError) return errorEnvelope(step, `could not start ${result.startError}`, EXIT_FAILED, details())
  if (result.overflow) {
    const limit = `${MAX_OUTPUT_BYTES / 1024 / 1024} MiB`
    const reason =
      `${program} printed more than ${limit} on ${result.overflow}, so it was stopped ` +
      '(write big results to a file and put its path in the envelope)'
    return errorEnvelope(step, reason, EXIT_FAILED, details())
  }
  if (result.signal) return errorEnvelope(step, `${program} was killed by ${result.signal}`, EXIT_FAILED, details())
  const exitCode = result.exitCode ?? EXIT_FAILED

  if (parse !== 'json') {
    if (exitCode !== 0) return errorEnvelope(step, `${program} exited with code ${exitCode}`, exitCode, details())
    const field =
      parse === 'lines'
        ? { lines: result.stdout.split('\n').filter((line) => line.trim() !== '') }
        : { output: result.stdout }
    return normalizeEnvelope({ status: 'ok', ...field }, step, ctx.writtenKeys())
  }

  const lines = result.stdout.split('\n').filter((line) => line.trim() !== '')
  if (lines.length === 0) {
    const reason =
      exitCode === 0
        ? `${program} printed nothing on stdout; expected one JSON envelope line`
        : `${program} exited with code ${exitCode} without an envelope on stdout`
    return errorEnvelope(step, reason, exitCode === 0 ? EXIT_FAILED : exitCode, details())
  }
  if (lines.length > 1) {
    if (isOneJsonObject(result.stdout))
      return errorEnvelope(
        step,
        `${program} printed its JSON envelope over ${lines.length} lines; stdout must hold it on exactly one line (jq -c, or json.dumps without indent)`,
        exitCode || EXIT_FAILED,
        details(),
      )
    return errorEnvelope(
      step,
      `${program} printed ${lines.length} lines on stdout; expected exactly one JSON envelope line (logs belong on stderr). stdout began: ${JSON.stringify(head(result.stdout))}`,
      exitCode || EXIT_FAILED,
      details(),
    )
  }
  if (result.stdoutNotUtf8) {
    // Decoded anyway, each such byte would reach ctx and the record as U+FFFD: a changed value.
    return errorEnvelope(
      step,
      `${program} printed bytes that are not UTF-8 on stdout, so its envelope cannot be read as it was meant (JSON is UTF-8 text): print text as UTF-8 (iconv -f latin1 -t utf-8), or write binary data to a file under Data/ and put its path in the envelope`,
      exitCode || EXIT_FAILED,
      details(),
    )
  }
  let raw: unknown
  try {
    raw = JSON.parse(lines[0]!)
  } catch {
    return errorEnvelope(
      step,
      `${program} printed a line that is not JSON: ${JSON.stringify(head(lines[0]!))}`,
      exitCode || EXIT_FAILED,
      details(),
    )
  }
  applyEnvelopeContext(raw, ctx, step)
  const envelope = normalizeEnvelope(raw, step, ctx.writtenKeys())
  if (envelope.status === 'ok' && exitCode !== 0) {
    return errorEnvelope(
      step,
      `${program} exited with code ${exitCode} although its envelope says ok`,
      exitCode,
      details(),
    )
  }
  // The exit status is what a run of the program on its own reports (a python script's sys.exit(n)).
  if (envelope.status === 'error' && exitCode !== 0) envelope.exit_code = exitCode
  return envelope
}

/** Whether the whole of stdout is one JSON object, spread over lines (a pretty-printed envelope). */
function isOneJsonObject(stdout: string): boolean {
  if (!stdout.trimStart().startsWith('{')) return false
  try {
    const value: unknown = JSON.parse(stdout)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
  } catch {
    return false
  }
}

/**
 * Writes the envelope's `"ctx": {key: value}` to the context, attributed to the step, and
 * removes it from the envelope (the values live in the context and its history).
 */
export function applyEnvelopeContext(raw: unknown, ctx: StepContext, step: string): void {
  if (typeof raw !== 'object' || raw === null || !('ctx' in raw)) return
  const envelope = raw as { ctx?: JsonValue }
  const writes = envelope.ctx
  delete envelope.ctx
  if (typeof writes !== 'object' || writes === null || Array.isArray(writes)) {
    throw new TypeError(`the envelope's "ctx" must be an object of key → value, not ${JSON.stringify(writes)}`)
  }
  for (const [key, value] of Object.entries(writes)) ctx.set(key, value, { who: step })
}

export function head(text: string): string {
  return text.length <= HEAD_BYTES ? text : `${text.slice(0, HEAD_BYTES)}…`
}

/** The last lines of `text` (at most 10 lines / 1,000 characters): what a failure message quotes. */
export function tail(text: string): string {
  const lines = text.trimEnd().split('\n').slice(-10).join('\n')
  return lines.length <= 1000 ? lines : `…${lines.slice(-1000)}`
}
