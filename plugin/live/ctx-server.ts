import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Context, ContextWrite } from '../context/context.ts'
import type { JsonValue } from '../context/json-value.ts'
import { applyCtxOperation, type CtxAnswer, CtxOperationError, type CtxRequest } from './ctx-operations.ts'
import { HttpError, type HttpLimits, type HttpServer, readJson, sendJson, startHttpServer } from './http-server.ts'

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
      auth: {
        token: options.token,
        realm: 'vitest-recipes ctx',
        code: 'CTX_UNAUTHORIZED',
        message:
          "missing or wrong token: send 'Authorization: Bearer <token>' (RECIPES_CTX_TOKEN, or the run's endpoint file)",
      },
      // A refusal can quote a refused value: its message is masked like every answer.
      ...(options.mask ? { maskErrors: options.mask.text.bind(options.mask) } : {}),
      handle: (request, response) => handle(options, request, response),
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
  const url = new URL(request.url ?? '/', 'http://localhost')
  if (url.pathname === '/v1/run' && request.method === 'GET') return sendJson(response, 200, options.run())
  const parsed = route(request.method ?? 'GET', url.pathname)
  if (!parsed)
    throw new HttpError(
      404,
      'CTX_NO_SUCH_ROUTE',
      `${request.method} ${url.pathname} is not an operation of the ctx API`,
    )
  const body = await readRequestBody(request, options.ctx.valueMaxBytes)
  const ctxRequest: CtxRequest = { op: parsed.op, ...(parsed.key === undefined ? {} : { key: parsed.key }) }
  if ('value' in body) ctxRequest.value = body.value!
  const who = typeof body.who === 'string' ? body.who : request.headers['x-recipes-who']
  if (typeof who === 'string') ctxRequest.who = who
  if (body.revision !== undefined) {
    if (typeof body.revision !== 'number' || !Number.isInteger(body.revision) || body.revision < 0)
      throw new HttpError(400, 'CTX_BAD_REVISION', 'revision must be a whole number, 0 or more')
    ctxRequest.expectRevision = body.revision
  }
  if (body.index !== undefined) {
    if (typeof body.index !== 'number' || !Number.isInteger(body.index))
      throw new HttpError(400, 'CTX_BAD_INDEX', 'index must be a whole number')
    ctxRequest.index = body.index
  }
  const writes: ContextWrite[] = []
  let answer: CtxAnswer
  try {
    answer = applyCtxOperation(options.ctx, ctxRequest, (write) => writes.push(write))
  } catch (error) {
    if (!(error instanceof CtxOperationError)) throw error
    throw new HttpError(error.status, error.code, error.message, {
      details: error.revision === undefined ? {} : { revision: error.revision },
    })
  }
  if (writes.length > 0) {
    try {
      await options.record(writes)
    } catch (error) {
      throw new HttpError(
        500,
        'CTX_NOT_RECORDED',
        `the write was applied to the ctx but could not be recorded: ${(error as Error).message}`,
      )
    }
  }
  const reveal = ['1', 'true'].includes(url.searchParams.get('reveal') ?? '')
  sendJson(response, 200, reveal || !options.mask ? answer : maskAnswer(answer, options.mask))
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
async function readRequestBody(request: IncomingMessage, valueMaxBytes: number): Promise<Record<string, JsonValue>> {
  let body: unknown
  try {
    // The body is read up to the ctx value limit (and a little more): a larger one cannot hold a value the ctx would keep.
    body = await readJson(request, valueMaxBytes + BODY_OVERHEAD_BYTES, {
      code: 'CTX_NOT_JSON',
      hint: 'send {"value": <JSON>, "who": "<name>"}: the ctx holds JSON values only',
    })
  } catch (error) {
    if (error instanceof HttpError && error.status === 413)
      throw new HttpError(
        422,
        'CTX_VALUE_TOO_LARGE',
        `the request body is over the ctx value limit of ${valueMaxBytes} bytes (plugin option ctxValueMaxBytes): ${error.message}. Write large data to a file under Data/ and store its path in the ctx instead.`,
      )
    throw error
  }
  if (body === undefined) return {}
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError(
      400,
      'CTX_BAD_REQUEST',
      'the request body must be a JSON object: {"value": <JSON>, "who": "<name>"}',
    )
  return body as Record<string, JsonValue>
}
