import type { JsonObject } from '../context/json-value.ts'
import { createRedactor } from '../runtime/redact.ts'
import type { AiSummary } from '../store/run-data.ts'

/** Where to ask for the optional AI summary: any OpenAI-compatible chat completions endpoint. */
export interface AiOptions {
  /** Base URL of the API, e.g. `https://api.openai.com/v1` or a lab's `http://127.0.0.1:11434/v1`. */
  endpoint: string
  model: string
  /** The environment variable holding the API key (sent as a Bearer token); none for servers without keys. */
  apiKeyEnv?: string
  /** The longest the run's reports wait for the answer. @default 30000 */
  timeoutMs?: number
}

export const DEFAULT_AI_TIMEOUT_MS = 30_000

const INSTRUCTIONS = [
  'You help a test engineer in a network and data-center hardware lab read the result of one automated test run.',
  'You get the run as JSON: its status, the failed steps with their reasons, a heuristic analysis against earlier runs, and the numeric metrics.',
  'In at most 8 short sentences: say what happened, what most likely explains failures or anomalies, and what to check first.',
  'Use only the data given; name the steps and figures you rely on; say so when the data does not explain something.',
  'Plain text, no Markdown headings.',
].join(' ')

/**
 * Asks the endpoint for a summary of `payload` (built from the stored run, whose secrets are
 * already masked; masked again here with every secret-looking environment variable, the API
 * key among them). Never throws and never waits past the timeout, nor past `until`
 * (performance.now() time) when given: a slow, failing or absent endpoint gives
 * `status: 'unavailable'` and the reason.
 */
export async function askForSummary(
  options: AiOptions,
  payload: JsonObject,
  env: NodeJS.ProcessEnv = process.env,
  until?: number,
): Promise<AiSummary> {
  const started = performance.now()
  const at = new Date().toISOString()
  const endpoint = originOf(options.endpoint)
  const unavailable = (reason: string): AiSummary => ({
    status: 'unavailable',
    model: options.model,
    endpoint,
    reason,
    ms: Math.round(performance.now() - started),
    at,
  })
  const key = options.apiKeyEnv ? env[options.apiKeyEnv] : undefined
  if (options.apiKeyEnv && !key)
    return unavailable(`the environment variable ${options.apiKeyEnv} (analysis.ai.apiKeyEnv) is not set`)
  const redactor = createRedactor(options.apiKeyEnv ? [options.apiKeyEnv] : [], env)
  const body = JSON.stringify({
    model: options.model,
    temperature: 0.2,
    messages: [
      { role: 'system', content: INSTRUCTIONS },
      { role: 'user', content: redactor.text(JSON.stringify(payload)) },
    ],
  })
  const timeoutMs = options.timeoutMs ?? DEFAULT_AI_TIMEOUT_MS
  // Several runs ending together share one wait: none of them holds the reports past `until`.
  const allowedMs = until === undefined ? timeoutMs : Math.min(timeoutMs, Math.floor(until - performance.now()))
  if (allowedMs <= 0)
    return unavailable(`not asked: the ${timeoutMs} ms allowed for AI summaries after this Vitest run were used up`)
  let response: Response
  try {
    response = await fetch(`${options.endpoint.replace(/\/+$/, '')}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body,
      signal: AbortSignal.timeout(allowedMs),
    })
  } catch (error) {
    return unavailable(describeFetchError(error, timeoutMs))
  }
  let text: string
  try {
    text = await response.text()
  } catch (error) {
    return unavailable(describeFetchError(error, timeoutMs))
  }
  if (!response.ok)
    return unavailable(`HTTP ${response.status} ${response.statusText}: ${redactor.text(text.slice(0, 200))}`)
  const answer = contentOf(text)
  if (answer === undefined)
    return unavailable('the answer was not an OpenAI-style chat completion (no choices[0].message.content)')
  return {
    status: 'answered',
    model: options.model,
    endpoint,
    text: redactor.text(answer.trim()),
    ms: Math.round(performance.now() - started),
    at,
  }
}

/** The endpoint as shown in reports: scheme, host and port only (no credentials, no path). */
export function originOf(endpoint: string): string {
  try {
    return new URL(endpoint).origin
  } catch {
    return 'an invalid URL'
  }
}

function contentOf(text: string): string | undefined {
  try {
    const content = (JSON.parse(text) as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message
      ?.content
    return typeof content === 'string' && content.trim() !== '' ? content : undefined
  } catch {
    return undefined
  }
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  const problem = error as Error & { cause?: { code?: string; message?: string } }
  // The wait is timeoutMs, shared by the runs ending together: a later run may have had less of it.
  if (problem.name === 'TimeoutError' || problem.name === 'AbortError') return `no answer within ${timeoutMs} ms`
  const cause = problem.cause
  if (cause?.code === 'ECONNREFUSED') return 'connection refused (is the model server running?)'
  if (cause?.code === 'ENOTFOUND') return 'host not found'
  return cause?.message ?? problem.message
}
