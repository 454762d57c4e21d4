import type { JsonValue } from '../context/json-value.ts'
import type { CtxRequest } from './ctx-operations.ts'

/** What a ctx server answered: its HTTP status and JSON body. */
export interface CtxReply {
  status: number
  body: Record<string, JsonValue>
}

/** A ctx server that could not be reached (not running any more, wrong address, firewall). */
export class CtxUnreachableError extends Error {
  override name = 'CtxUnreachableError'
}

export interface CtxCallOptions {
  /**
   * Ask for secrets in clear (`?reveal=1`): a step of the run that needs the value, or a person
   * who said `--reveal`. Otherwise the server masks them (`***{NAME}`).
   * @default false
   */
  reveal?: boolean
  /** @default 10000 */
  timeoutMs?: number
}

/** Sends one operation to the ctx server at `url` (ctx-server.ts documents the routes). */
export async function callCtxServer(
  url: string,
  token: string,
  request: CtxRequest,
  { reveal = false, timeoutMs = 10_000 }: CtxCallOptions = {},
): Promise<CtxReply> {
  const { method, path, body } = httpOf(request)
  let response: Response
  try {
    response = await fetch(`${url.replace(/\/+$/, '')}${path}${reveal ? '?reveal=1' : ''}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (error) {
    throw new CtxUnreachableError(`the ctx server at ${url} cannot be reached (${whyUnreachable(error)})`)
  }
  const text = await response.text()
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = {
      error: { code: 'CTX_NOT_JSON', message: `the server at ${url} answered ${response.status} with no JSON` },
    }
  }
  return { status: response.status, body: parsed as Record<string, JsonValue> }
}

/** fetch's own message ("fetch failed") says nothing: the cause does (ECONNREFUSED, a timeout, a bad port). */
function whyUnreachable(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  if ((error as Error).name === 'TimeoutError') return 'no answer in time'
  return cause?.code ?? cause?.message ?? (error as Error).message
}

function httpOf(request: CtxRequest): { method: string; path: string; body?: Record<string, JsonValue> } {
  const key = encodeURIComponent(request.key ?? '')
  const body: Record<string, JsonValue> = {}
  if (request.value !== undefined) body.value = request.value
  if (request.who !== undefined) body.who = request.who
  if (request.expectRevision !== undefined) body.revision = request.expectRevision
  if (request.index !== undefined) body.index = request.index
  switch (request.op) {
    case 'full':
      return { method: 'GET', path: '/v1/ctx' }
    case 'get':
      return { method: 'GET', path: `/v1/ctx/${key}` }
    case 'set':
      return { method: 'PUT', path: `/v1/ctx/${key}`, body }
    case 'append':
      return { method: 'POST', path: `/v1/ctx/${key}/append`, body }
    case 'pop':
      return { method: 'POST', path: `/v1/ctx/${key}/pop`, body }
    case 'delete':
      return { method: 'DELETE', path: `/v1/ctx/${key}`, body }
  }
}
