import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Context, ContextWrite } from '../context/context.ts'
import type { JsonValue } from '../context/json-value.ts'
import { applyCtxOperation, type CtxAnswer, CtxOperationError, type CtxRequest } from './ctx-operations.ts'
import {
  BodyTooLargeError,
  bearerToken,
  type HttpLimits,
  type HttpServer,
  readBody,
  sendJson,
  startHttpServer,
  tokenMatches,
} from './http-server.ts'

/** A running recipe file as its ctx server describes it. */
export interface LiveRunState {
  runId: string
  recipe: string
  testId: string
  /** The steps running now: when they started (ISO time), and how far they said they are. */
  running: { step: string; since: string; percent?: number; message?: string }[]
}

/** What a request body may hold beyond the value (its `who`, `revision`, JSON punctuation). */
const BODY_OVERHEAD_BYTES = 64 * 1024

export interface CtxServerOptions {
  /** The running recipe's ctx: reads see every write as it happens, steps' and the API's. */
  ctx: Context
  /** Where to listen: loopback unless configured otherwise. */
  host: string
  /** 0: any free port. */
  port: number
  /** Every request must carry it (`Authorization: Bearer <token>`). */
  token: string
  /** What the run is and which steps run now, for `GET /v1/run` (the dashboard shows them live). */
  run: () => LiveRunState
  /** Records writes made through the API (history and store), as steps' writes are recorded. */
  record: (writes: ContextWrite[]) => void | Promise<void>
  /**
   * Masks secrets in answers (the run's redactor): values as the store keeps them (`***{NAME}`,
   * `***{derived}`), error messages with `***`. A request with `?reveal=1` gets values raw (a
   * step of the run needs them); error messages are masked always.
   * @default answers are not masked
   */
  mask?: CtxMask
  /** Connections and timeouts (http-server.ts); the defaults suit a run's clients. */
  limits?: HttpLimits
}

/** What the ctx server masks secrets with: the part of the run's Redactor it uses. */
export interface CtxMask {
  /** A JSON value with each secret replaced by a reference to its source, `***{NAME}`. */
  reference<T extends JsonValue | undefined>(value: T): T
  /** A text with each secret replaced by `***`. */
  text(text: string): string
}

/**
 * The context of a running recipe file over HTTP: JSON in, JSON out, one token per run.
 *
 *   GET    /v1/run                 which run this is, and which steps run now
 *   GET    /v1/ctx                 full: every value and its revision
 *   GET    /v1/ctx/<key>           get: { key, value, revision }
 *   PUT    /v1/ctx/<key>           set:    { value, who?, revision? }
 *   POST   /v1/ctx/<key>/append    append: { value, who?, revision? }
 *   POST   /v1/ctx/<key>/pop       pop:    { index?, who?, revision? }
 *   DELETE /v1/ctx/<key>           delete: { who?, revision? } (body optional)
 *
 * `revision` is the key's revision the writer expects (0: the key must not exist): a write
 * that lost the race gets 409 and the current revision. Errors are `{ error: { code, message } }`.
 *
 * Secrets in values are masked as the stored run shows them (`***{NAME}`) unless the request
 * says `?reveal=1`: what a person reads at a terminal is masked by default, and asking for
 * raw values is explicit (`recipes ctx --reveal`, or a step of the run, which holds the token
 * in its environment). The token is the boundary: whoever holds it could read the run's
 * environment as the same user anyway; the mask keeps secrets off screens and logs.
 */
export class CtxServer {
  readonly url: string
  private readonly http: HttpServer

  private constructor(http: HttpServer) {
    this.http = http
    this.url = http.url
  }

  static async start(options: CtxServerOptions): Promise<CtxServer> {
    const http = await startHttpServer({
      name: 'the ctx server',
      host: options.host,
      port: options.port,
      listenHint: 'set the plugin option ctxServer.port to 0 (any free port) or another port',
      ...(options.limits ? { limits: options.limits } : {}),
      // A failure's message is masked like every answer (it can quote a refused value).
      handle: (request, response) =>
        handle(options, request, response).catch((error: unknown) => {
          if (response.headersSent) response.destroy()
          else
            send(
              response,
              500,
              { error: { code: 'HTTP_SERVER_ERROR', message: (error as Error).message } },
              options.mask,
            )
        }),
    })
    // Clients keep connections open between requests; none of them keeps the test worker alive.
    http.server.unref()
    return new CtxServer(http)
  }

  /** Stops listening and closes the connections clients keep open. */
  close(): Promise<void> {
    return this.http.close()
  }
}

async function handle(options: CtxServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const reply = (status: number, body: unknown) => send(response, status, body, options.mask)
  if (!tokenMatches(bearerToken(request), options.token)) {
    response.setHeader('WWW-Authenticate', 'Bearer realm="vitest-recipes ctx"')
    reply(401, {
      error: {
        code: 'CTX_UNAUTHORIZED',
        message:
          "missing or wrong token: send 'Authorization: Bearer <token>' (RECIPES_CTX_TOKEN, or the run's endpoint file)",
      },
    })
    return
  }
  const url = new URL(request.url ?? '/', 'http://localhost')
  if (url.pathname === '/v1/run' && request.method === 'GET') {
    reply(200, options.run())
    return
  }
  const parsed = route(request.method ?? 'GET', url.pathname)
  if (!parsed) {
    reply(404, {
      error: {
        code: 'CTX_NO_SUCH_ROUTE',
        message: `${request.method} ${url.pathname} is not an operation of the ctx API`,
      },
    })
    return
  }
  let body: Record<string, JsonValue>
  try {
    body = await readJsonBody(request, options.ctx.valueMaxBytes)
  } catch (error) {
    reply((error as CtxOperationError).status ?? 400, {
      error: { code: (error as CtxOperationError).code ?? 'CTX_BAD_REQUEST', message: (error as Error).message },
    })
    return
  }
  const ctxRequest: CtxRequest = { op: parsed.op, ...(parsed.key === undefined ? {} : { key: parsed.key }) }
  if ('value' in body) ctxRequest.value = body.value!
  const who = typeof body.who === 'string' ? body.who : request.headers['x-recipes-who']
  if (typeof who === 'string') ctxRequest.who = who
  if (body.revision !== undefined) {
    if (typeof body.revision !== 'number' || !Number.isInteger(body.revision) || body.revision < 0) {
      reply(400, {
        error: { code: 'CTX_BAD_REVISION', message: 'revision must be a whole number, 0 or more' },
      })
      return
    }
    ctxRequest.expectRevision = body.revision
  }
  if (body.index !== undefined) {
    if (typeof body.index !== 'number' || !Number.isInteger(body.index)) {
      reply(400, { error: { code: 'CTX_BAD_INDEX', message: 'index must be a whole number' } })
      return
    }
    ctxRequest.index = body.index
  }
  const writes: ContextWrite[] = []
  let answer: CtxAnswer
  try {
    answer = applyCtxOperation(options.ctx, ctxRequest, (write) => writes.push(write))
  } catch (error) {
    if (!(error instanceof CtxOperationError)) throw error
    reply(error.status, {
      error: {
        code: error.code,
        message: error.message,
        ...(error.revision === undefined ? {} : { revision: error.revision }),
      },
    })
    return
  }
  if (writes.length > 0) {
    try {
      await options.record(writes)
    } catch (error) {
      reply(500, {
        error: {
          code: 'CTX_NOT_RECORDED',
          message: `the write was applied to the ctx but could not be recorded: ${(error as Error).message}`,
        },
      })
      return
    }
  }
  const reveal = ['1', 'true'].includes(url.searchParams.get('reveal') ?? '')
  reply(200, reveal || !options.mask ? answer : maskAnswer(answer, options.mask))
}

/** The answer with each value masked: the key's value, what pop removed, every value of full. */
function maskAnswer(answer: CtxAnswer, mask: CtxMask): CtxAnswer {
  const masked = { ...answer }
  if (answer.value !== undefined) masked.value = mask.reference(answer.value)
  if (answer.popped !== undefined) masked.popped = mask.reference(answer.popped)
  if (answer.values !== undefined) masked.values = mask.reference(answer.values)
  return masked
}

function route(method: string, path: string): { op: CtxRequest['op']; key?: string } | undefined {
  if (path === '/v1/ctx' || path === '/v1/ctx/') return method === 'GET' ? { op: 'full' } : undefined
  const match = /^\/v1\/ctx\/([^/]+)(?:\/(append|pop))?$/.exec(path)
  if (!match) return undefined
  let key: string
  try {
    key = decodeURIComponent(match[1]!)
  } catch {
    return undefined
  }
  const action = match[2]
  if (action === 'append' && method === 'POST') return { op: 'append', key }
  if (action === 'pop' && method === 'POST') return { op: 'pop', key }
  if (action !== undefined) return undefined
  if (method === 'GET') return { op: 'get', key }
  if (method === 'PUT') return { op: 'set', key }
  if (method === 'DELETE') return { op: 'delete', key }
  return undefined
}

/** The request's JSON object body ({} when it has none). */
async function readJsonBody(request: IncomingMessage, valueMaxBytes: number): Promise<Record<string, JsonValue>> {
  let text: string
  try {
    // The body is read up to the ctx value limit (and a little more): a larger one cannot hold a value the ctx would keep.
    text = (await readBody(request, valueMaxBytes + BODY_OVERHEAD_BYTES)).trim()
  } catch (error) {
    if (error instanceof BodyTooLargeError)
      throw new CtxOperationError(
        422,
        'CTX_VALUE_TOO_LARGE',
        `the request body is over the ctx value limit of ${valueMaxBytes} bytes (plugin option ctxValueMaxBytes): ${error.message}. Write large data to a file under Data/ and store its path in the ctx instead.`,
      )
    throw error
  }
  if (text === '') return {}
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (error) {
    throw new CtxOperationError(
      400,
      'CTX_NOT_JSON',
      `the request body is not JSON (${(error as Error).message}); send {"value": <JSON>, "who": "<name>"}: the ctx holds JSON values only`,
    )
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new CtxOperationError(
      400,
      'CTX_BAD_REQUEST',
      'the request body must be a JSON object: {"value": <JSON>, "who": "<name>"}',
    )
  return body as Record<string, JsonValue>
}

/** Sends a JSON answer; an error message is masked with `mask` (it can quote a refused value). */
function send(response: ServerResponse, status: number, body: unknown, mask?: CtxMask): void {
  const problem = (body as { error?: { message?: unknown } }).error
  if (mask && problem && typeof problem.message === 'string')
    body = { ...(body as object), error: { ...problem, message: mask.text(problem.message) } }
  sendJson(response, status, body)
}
