import { findNonJsonValue, type JsonObject, type JsonValue } from '../context/json-value.ts'

/** What a successful step reports: the keys it wrote, files it made, numbers worth keeping. */
export interface OkEnvelope {
  status: 'ok'
  outputs: string[]
  artifacts: string[]
  metrics: JsonObject
  warnings: string[]
  /** Any further fields the scriptlet returned are kept as they were. */
  [extra: string]: JsonValue
}

/** What a failed step reports. `exit_code`: 1 failed, 2 dependency not satisfied, 3 invalid input or config. */
export interface ErrorEnvelope {
  status: 'error'
  reason: string
  details: JsonObject
  exit_code: number
  step: string
  ts: string
  [extra: string]: JsonValue
}

export type Envelope = OkEnvelope | ErrorEnvelope

/** The shape a scriptlet's `run` may return: a partial envelope, or nothing at all. */
export type EnvelopeInput =
  | (Partial<Omit<OkEnvelope, 'status'>> & { status?: 'ok' | 'success' })
  | (Partial<ErrorEnvelope> & { status: 'error' })

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_DEPENDENCY = 2
export const EXIT_INVALID = 3

export function errorEnvelope(
  step: string,
  reason: string,
  exitCode = EXIT_FAILED,
  details: JsonObject = {},
): ErrorEnvelope {
  return { status: 'error', reason, details, exit_code: exitCode, step, ts: new Date().toISOString() }
}

/**
 * Completes what a scriptlet returned into a full envelope. Accepts the older framework's
 * spellings (`status: "success"`, a single `artifact`). Anything that is not an envelope
 * becomes an error envelope that says what came back.
 */
export function normalizeEnvelope(raw: unknown, step: string, defaultOutputs: readonly string[] = []): Envelope {
  // What most scriptlets return: nothing. Built directly (okEnvelope's rest and spread cost more).
  if (raw === undefined || raw === null || raw === EXIT_OK)
    return { status: 'ok', outputs: [...defaultOutputs], artifacts: [], metrics: {}, warnings: [] }
  // The older framework's run() printed its envelope and returned an exit code.
  if (typeof raw === 'number' && Number.isInteger(raw))
    return errorEnvelope(step, `the scriptlet returned exit code ${raw}`, raw > 0 ? raw : EXIT_FAILED)
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return errorEnvelope(step, `the scriptlet returned ${describe(raw)}, not an envelope object (or nothing)`)
  }
  const problem = findNonJsonValue(raw, 'envelope')
  if (problem) return errorEnvelope(step, `the scriptlet returned an envelope that is not JSON: ${problem}`)
  const input = raw as JsonObject
  const status = input.status ?? 'ok'
  if (status === 'ok' || status === 'success') return okEnvelope(input, defaultOutputs)
  // Any other status ("failed", "ERROR") stopped the older runner too: an error keeping what the scriptlet said.
  const unknown =
    status === 'error' ? undefined : `the envelope has status ${JSON.stringify(status)}; expected "ok" or "error"`
  // `step` names the recipe's step, whatever name the scriptlet printed for itself.
  const { status: _status, reason, details, exit_code, step: _ownStep, ts, ...extra } = input
  const said = typeof reason === 'string' && reason ? reason : undefined
  return {
    ...extra,
    status: 'error',
    reason: unknown
      ? said
        ? `${said} (${unknown})`
        : unknown
      : (said ?? 'the scriptlet reported an error without a reason'),
    details: isObject(details) ? details : {},
    exit_code: typeof exit_code === 'number' && Number.isInteger(exit_code) && exit_code > 0 ? exit_code : EXIT_FAILED,
    step,
    ts: typeof ts === 'string' ? ts : new Date().toISOString(),
  }
}

function okEnvelope(input: JsonObject, defaultOutputs: readonly string[]): OkEnvelope {
  const { status: _status, outputs, artifacts, artifact, metrics, warnings, ...extra } = input
  const artifactList = stringList(artifacts)
  if (typeof artifact === 'string') artifactList.push(artifact)
  return {
    ...extra,
    status: 'ok',
    outputs: outputs === undefined ? [...defaultOutputs] : stringList(outputs),
    artifacts: artifactList,
    metrics: isObject(metrics) ? metrics : {},
    warnings: stringList(warnings),
  }
}

function stringList(value: JsonValue | undefined): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 80))}`
  if (Array.isArray(value)) return 'an array'
  return `a ${typeof value}`
}
