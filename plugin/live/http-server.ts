import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { type AddressInfo, isIP } from 'node:net'
import { hostname } from 'node:os'

/**
 * What the three HTTP servers of a run share (the ctx server of a recipe file, the lock
 * service of the Vitest process, the dashboard): listening, the limits that keep a flood of
 * connections from exhausting the process's file descriptors, the `Host` check against DNS
 * rebinding, constant-time token comparison, bounded bodies and JSON answers. Anyone on the
 * host can connect before any token is checked: a flood may keep a server busy, never fail
 * the process that runs it.
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
  /** Answers a request whose `Host` is one of the server's names (others get 421). */
  handle: (request: IncomingMessage, response: ServerResponse) => Promise<void> | void
}

export interface HttpServer {
  readonly server: Server
  /** `http://<address>:<port>` as it listens (IPv6 in brackets). */
  readonly url: string
  /** Stops listening and closes every connection, idle or not. */
  close(): Promise<void>
}

/** Starts a server with the limits and the Host check in place; rejects with a message that says what to do. */
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
      if (accepted && !hostAccepted(request.headers.host, accepted)) {
        sendJson(response, 421, {
          error: {
            code: 'HTTP_UNKNOWN_HOST',
            message: `${options.name} answers to ${describeAccepted(accepted)}, not to "${request.headers.host ?? ''}" (a web page reaching it under another name is refused: DNS rebinding); use one of those names`,
          },
        })
        return
      }
      Promise.resolve()
        .then(() => options.handle(request, response))
        .catch((error: unknown) => {
          if (response.headersSent) response.destroy()
          else sendJson(response, 500, { error: { code: 'HTTP_SERVER_ERROR', message: (error as Error).message } })
        })
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
export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined
}

/** A request body over the size a server reads. */
export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError'
}

/** The request's body, refused past `maxBytes` (the rest is not read). */
export async function readBody(request: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > maxBytes) throw new BodyTooLargeError(`the request body is over ${maxBytes} bytes`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
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
