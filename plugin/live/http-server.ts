import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { type AddressInfo, isIP } from 'node:net'
import { hostname } from 'node:os'
import type { JsonValue } from '../context/json-value.ts'

/**
 * What the three HTTP servers of a run share (the ctx server of a recipe file, the lock
 * service of the Vitest process, the dashboard), written once: listening, the limits that
 * keep a flood of connections from exhausting the process's file descriptors, the `Host`
 * check against DNS rebinding, the bearer token (compared in constant time), the methods a
 * server takes, bounded bodies, JSON answers, and one shape for every refusal:
 * `{ error: { code, message, ...details } }` (the ctx API documents it). Anyone on the host
 * can connect before any token is checked: a flood may keep a server busy, never fail the
 * process that runs it.
 *
 * A handler answers with sendJson and refuses by throwing an HttpError. Hono (on
 * @hono/node-server) was weighed: its router and middlewares would replace the routing and
 * the token check, but none of the connection limits, timeouts or the Host check (they are
 * the Node server's), and every request would be copied to a fetch Request and back.
 */

/** How many connections a server holds and how long it waits for a client. */
export interface HttpLimits {
  /** Connections served at once; any more are closed as they arrive. @default 256 */
  maxConnections?: number
  /** Time a client has to send a request's headers (else 408). @default 5000 */
  headersTimeoutMs?: number
  /** Time a client has to send a whole request, headers and body (else 408). @default 30000 */
  requestTimeoutMs?: number
  /** How long a kept-alive connection may wait for its next request. @default 5000 */
  keepAliveTimeoutMs?: number
  /**
   * A connection with no traffic either way for this long is closed: one that never sends a
   * byte, or stalls mid-request. Long-lived streams (the dashboard's events) opt out. @default 10000
   */
  idleTimeoutMs?: number
}

export const DEFAULT_HTTP_LIMITS: Required<HttpLimits> = {
  maxConnections: 256,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5000,
  idleTimeoutMs: 10_000,
}

/** Who may ask: every request carries the token, as `Authorization: Bearer <token>` or another credential. */
export interface HttpAuth {
  token: string
  /** The realm a 401 names in its `WWW-Authenticate`. */
  realm: string
  /** The 401's code and message: where the client finds the token. */
  code: string
  message: string
  /** Other places the token may come in (the dashboard's cookie and `?token=`), tried after the bearer. */
  otherCredentials?: (request: IncomingMessage) => (string | undefined)[]
}

export interface HttpServerOptions {
  /** What the server is, for messages: "the dashboard". */
  name: string
  /** Address (or name) to listen on. */
  host: string
  /** 0: any free port. */
  port: number
  /** What to tell the user when the port cannot be had. */
  listenHint: string
  limits?: HttpLimits
  /** When set, a request without the token gets 401 (after the Host check, before the handler). */
  auth?: HttpAuth
  /** The methods the server takes; others get 405. @default every method */
  methods?: readonly string[]
  /** Applied to the message of every refusal the server sends (a message can quote a refused secret). */
  maskErrors?: (text: string) => string
  /**
   * Answers a request whose `Host` is one of the server's names (others get 421), authorized
   * and of a method the server takes. It refuses by throwing an HttpError; anything else it
   * throws is a 500.
   */
  handle: (request: IncomingMessage, response: ServerResponse) => Promise<void> | void
}

/** A refusal: its status, a stable code, a message that says what to do; answered as `{ error: { code, message, ...details } }`. */
export class HttpError extends Error {
  override name = 'HttpError'
  readonly status: number
  readonly code: string
  /** More fields of the answer's `error` (the ctx API's `revision`). */
  readonly details: Record<string, JsonValue>
  readonly headers: Record<string, string>

  constructor(
    status: number,
    code: string,
    message: string,
    { details = {}, headers = {} }: { details?: Record<string, JsonValue>; headers?: Record<string, string> } = {},
  ) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
    this.headers = headers
  }
}

export interface HttpServer {
  readonly server: Server
  /** `http://<address>:<port>` as it listens (IPv6 in brackets). */
  readonly url: string
  /** Stops listening and closes every connection, idle or not. */
  close(): Promise<void>
}

/** Starts a server with its limits, the Host check, its token and its methods in place; rejects with a message that says what to do. */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits }
  let accepted: AcceptedHosts | undefined
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the two timeouts above this often (its default, 30 s, would let a slow client stay far longer).
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
    (request, response) => {
      Promise.resolve()
        .then(() => {
          if (accepted && !hostAccepted(request.headers.host, accepted))
            throw new HttpError(
              421,
              'HTTP_UNKNOWN_HOST',
              `${options.name} answers to ${describeAccepted(accepted)}, not to "${request.headers.host ?? ''}" (a web page reaching it under another name is refused: DNS rebinding); use one of those names`,
            )
          if (options.auth) checkToken(request, options.auth)
          if (options.methods && !options.methods.includes(request.method ?? ''))
            throw new HttpError(
              405,
              'HTTP_METHOD_NOT_ALLOWED',
              `${options.name} takes ${options.methods.join(', ')} requests only`,
              { headers: { allow: options.methods.join(', ') } },
            )
          return options.handle(request, response)
        })
        .catch((error: unknown) => sendError(response, error, options.maskErrors))
    },
  )
  server.maxConnections = limits.maxConnections
  // Node's own `server.timeout` does not close a connection that never sent a byte: set it per socket.
  server.on('connection', (socket) => socket.setTimeout(limits.idleTimeoutMs, () => socket.destroy()))
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `${options.name} could not listen on ${options.host}:${options.port} (${error.code ?? error.message}); ${options.listenHint}`,
        ),
      ),
    )
    server.listen(options.port, options.host, () => resolve())
  })
  // Once listening, an error (a failed accept while descriptors run out) must not crash the process.
  server.on('error', () => {})
  const { address, port } = server.address() as AddressInfo
  accepted = acceptedHosts(options.host, port)
  const shown = address.includes(':') ? `[${address}]` : address
  return {
    server,
    url: `http://${shown}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** A server's names: loopback ones always, the one it listens on, this host's name when it listens on every address. */
interface AcceptedHosts {
  names: Set<string>
  port: number
}

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]'])

function acceptedHosts(host: string, port: number): AcceptedHosts {
  const names = new Set(['localhost', '127.0.0.1', '[::1]'])
  const bound = host.toLowerCase()
  if (WILDCARDS.has(bound)) names.add(hostname().toLowerCase())
  else names.add(isIP(bound) === 6 ? `[${bound}]` : bound)
  return { names, port }
}

/**
 * Whether a request's `Host` is one of the server's names, at its port. An IP address is
 * always accepted: a page that reaches the server by its address has the server's own
 * origin, while DNS rebinding needs a name the attacker controls.
 */
function hostAccepted(header: string | undefined, accepted: AcceptedHosts): boolean {
  if (header === undefined) return false
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d+))?$/i.exec(header.trim())
  if (!match) return false
  const name = match[1]!.toLowerCase().replace(/\.$/, '')
  const port = match[2] === undefined ? 80 : Number(match[2])
  if (port !== accepted.port) return false
  const literal = name.startsWith('[') ? isIP(name.slice(1, -1)) === 6 : isIP(name) === 4
  return literal || accepted.names.has(name)
}

function describeAccepted({ names, port }: AcceptedHosts): string {
  return `${[...names].map((name) => `${name}:${port}`).join(', ')} or an IP address of this host`
}

/** Whether `given` is the token, in time that does not depend on where they differ (or on their lengths). */
export function tokenMatches(given: string | undefined, token: string): boolean {
  if (given === undefined) return false
  const digest = (text: string) => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(given), digest(token))
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined
}

/** Throws the 401 of `auth` unless the request carries its token. */
function checkToken(request: IncomingMessage, auth: HttpAuth): void {
  const offered = [bearerToken(request), ...(auth.otherCredentials?.(request) ?? [])]
  if (offered.some((given) => tokenMatches(given, auth.token))) return
  throw new HttpError(401, auth.code, auth.message, {
    headers: { 'www-authenticate': `Bearer realm="${auth.realm}"` },
  })
}

/**
 * The request's body as text, refused with 413 past `maxBytes`: at once when its
 * `Content-Length` says so (nothing is read), else as soon as the bytes read pass it.
 */
export async function readBody(request: IncomingMessage, maxBytes: number): Promise<string> {
  const tooLarge = () => new HttpError(413, 'HTTP_BODY_TOO_LARGE', `the request body is over ${maxBytes} bytes`)
  if (Number(request.headers['content-length']) > maxBytes) throw tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > maxBytes) throw tooLarge()
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * The request's body parsed as JSON, undefined when it has none; 413 past `maxBytes`, 400
 * when it is not JSON (the parser's reason, then `hint`: what to send).
 */
export async function readJson(
  request: IncomingMessage,
  maxBytes: number,
  { code = 'HTTP_NOT_JSON', hint }: { code?: string; hint?: string } = {},
): Promise<unknown> {
  const text = (await readBody(request, maxBytes)).trim()
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new HttpError(
      400,
      code,
      `the request body is not JSON (${(error as Error).message})${hint === undefined ? '' : `; ${hint}`}`,
    )
  }
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  })
  response.end(text)
}

/**
 * Answers a refusal (an HttpError; anything else is a 500 with its message), its message
 * masked. A request whose body was not read whole gets its connection closed: the rest of a
 * large body is not read just to be thrown away. Once an answer has begun, the connection is
 * cut instead.
 */
function sendError(response: ServerResponse, error: unknown, mask: (text: string) => string = (text) => text): void {
  if (response.headersSent) {
    response.destroy()
    return
  }
  const problem =
    error instanceof HttpError
      ? error
      : new HttpError(500, 'HTTP_SERVER_ERROR', (error as Error).message ?? String(error))
  const unread = !response.req.complete
  sendJson(
    response,
    problem.status,
    { error: { code: problem.code, message: mask(problem.message), ...problem.details } },
    { ...problem.headers, ...(unread ? { connection: 'close' } : {}) },
  )
}
