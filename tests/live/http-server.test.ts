import { connect, type Socket } from 'node:net'
import { hostname } from 'node:os'
import { afterEach, describe, expect, test } from 'vitest'
import {
  HttpError,
  type HttpServer,
  readBody,
  readJson,
  sendJson,
  startHttpServer,
  tokenMatches,
} from '../../plugin/live/http-server.ts'

// The hardening the ctx server, the lock service and the dashboard share (each one's tests
// and tests/e2e/connection-flood.test.ts, dashboard-access.test.ts show it in place).

const servers: HttpServer[] = []
const sockets: Socket[] = []

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  for (const server of servers.splice(0)) await server.close()
})

async function start(options: Partial<Parameters<typeof startHttpServer>[0]> = {}): Promise<HttpServer> {
  const server = await startHttpServer({
    name: 'the test server',
    host: '127.0.0.1',
    port: 0,
    listenHint: 'choose another port',
    handle: (_request, response) => {
      response.end('hello')
    },
    ...options,
  })
  servers.push(server)
  return server
}

/** A raw connection; resolves when connected; `closed` resolves with how long after connecting it was closed. */
function open(url: string): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  const { port, hostname: host } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), host)
    sockets.push(socket)
    let text = ''
    socket.on('data', (chunk: Buffer) => (text += chunk))
    socket.once('error', () => {})
    socket.once('connect', () => {
      const started = Date.now()
      const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now() - started)))
      resolve({ socket, received: () => text, closed })
    })
    socket.once('error', reject)
  })
}

/** A raw request with the given Host header (none when undefined): the whole answer. */
async function answerFor(url: string, host: string | undefined): Promise<string> {
  const { socket, received, closed } = await open(url)
  socket.end(`GET / HTTP/1.1\r\n${host === undefined ? '' : `Host: ${host}\r\n`}Connection: close\r\n\r\n`)
  await closed
  return received()
}

async function statusFor(url: string, host: string | undefined): Promise<number> {
  return Number(/^HTTP\/1\.1 (\d+)/.exec(await answerFor(url, host))?.[1])
}

describe('connections', () => {
  test('past maxConnections, a new connection is closed at once; those within the limit are served', async () => {
    const server = await start({ limits: { maxConnections: 3 } })
    const held = await Promise.all([1, 2, 3].map(() => open(server.url)))
    const extra = await open(server.url)
    expect(await extra.closed).toBeLessThan(1000)
    held[0]!.socket.end(`GET / HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\nConnection: close\r\n\r\n`)
    await held[0]!.closed
    expect(held[0]!.received()).toMatch(/^HTTP\/1\.1 200[\s\S]*hello$/)
  })

  test('a connection that sends nothing is closed after idleTimeoutMs', async () => {
    const server = await start({ limits: { idleTimeoutMs: 300 } })
    const idle = await open(server.url)
    const after = await idle.closed
    expect(after).toBeGreaterThanOrEqual(250)
    expect(after).toBeLessThan(2000)
  })

  test('headers that do not arrive within headersTimeoutMs get 408 and the connection is closed', async () => {
    const server = await start({ limits: { headersTimeoutMs: 300 } })
    const slow = await open(server.url)
    slow.socket.write('GET / HTTP/1.1\r\n')
    expect(await slow.closed).toBeLessThan(2500)
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408/)
  })

  test('a handler that throws answers 500 with its message as JSON', async () => {
    const server = await start({
      handle: () => {
        throw new Error('broken')
      },
    })
    const response = await fetch(server.url)
    expect(response.status).toBe(500)
    expect(await response.json()).toEqual({ error: { code: 'HTTP_SERVER_ERROR', message: 'broken' } })
  })

  test('a port in use is refused with what to do', async () => {
    const server = await start()
    await expect(start({ port: Number(new URL(server.url).port) })).rejects.toThrow(
      /^the test server could not listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\); choose another port$/,
    )
  })
})

describe('the Host header', () => {
  test("loopback names and IP addresses at the server's port are answered; other names and ports get 421", async () => {
    const server = await start()
    const port = new URL(server.url).port
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST:${port}`,
      `[::1]:${port}`,
      `10.1.2.3:${port}`,
    ])
      expect(await statusFor(server.url, host), host).toBe(200)
    for (const host of [
      `attacker.example:${port}`,
      `localhost.attacker.example:${port}`,
      'localhost:1',
      'localhost',
      '',
    ])
      expect(await statusFor(server.url, host), host).toBe(421)
    expect(await statusFor(server.url, undefined)).toBe(400)
  })

  test("listening on every address, this host's name is one of its names too", async () => {
    const server = await start({ host: '0.0.0.0' })
    const port = new URL(server.url).port
    const url = `http://127.0.0.1:${port}`
    expect(await statusFor(url, `${hostname()}:${port}`)).toBe(200)
    expect(await statusFor(url, `${hostname()}.attacker.example:${port}`)).toBe(421)
  })

  test('the refusal says which names it answers to', async () => {
    const server = await start()
    const port = new URL(server.url).port
    const answer = await answerFor(server.url, `attacker.example:${port}`)
    expect(answer.slice(answer.indexOf('{'))).toBe(
      JSON.stringify({
        error: {
          code: 'HTTP_UNKNOWN_HOST',
          message: `the test server answers to localhost:${port}, 127.0.0.1:${port}, [::1]:${port} or an IP address of this host, not to "attacker.example:${port}" (a web page reaching it under another name is refused: DNS rebinding); use one of those names`,
        },
      }),
    )
  })
})

test('tokenMatches compares whole tokens only', () => {
  expect(tokenMatches('abc-123', 'abc-123')).toBe(true)
  expect(tokenMatches('abc-12', 'abc-123')).toBe(false)
  expect(tokenMatches('abc-1234', 'abc-123')).toBe(false)
  expect(tokenMatches('', 'abc-123')).toBe(false)
  expect(tokenMatches(undefined, 'abc-123')).toBe(false)
})

describe('one shape for every refusal: { error: { code, message, ...details } }', () => {
  test('a handler that throws an HttpError is answered with its status, code, message, details and headers', async () => {
    const server = await start({
      handle: () => {
        throw new HttpError(409, 'TEST_STALE', 'the key changed', {
          details: { revision: 3 },
          headers: { 'x-why': 'race' },
        })
      },
    })
    const response = await fetch(server.url)
    expect(response.status).toBe(409)
    expect(response.headers.get('x-why')).toBe('race')
    expect(await response.json()).toEqual({ error: { code: 'TEST_STALE', message: 'the key changed', revision: 3 } })
  })

  test("maskErrors masks every error message the server sends, its own and the handler's", async () => {
    const server = await start({
      maskErrors: (text) => text.replaceAll('hunter2', '***'),
      handle: (request) => {
        if (request.url === '/own') throw new HttpError(422, 'TEST_REFUSED', 'refused hunter2')
        throw new Error('crashed on hunter2')
      },
    })
    expect(await (await fetch(`${server.url}/own`)).json()).toEqual({
      error: { code: 'TEST_REFUSED', message: 'refused ***' },
    })
    expect(await (await fetch(`${server.url}/other`)).json()).toEqual({
      error: { code: 'HTTP_SERVER_ERROR', message: 'crashed on ***' },
    })
  })

  test('a request without the token gets 401 with where to find it; the bearer or another credential passes', async () => {
    const server = await start({
      auth: {
        token: 's3cret',
        realm: 'test',
        code: 'TEST_UNAUTHORIZED',
        message: 'send the test token',
        otherCredentials: (request) => [request.headers['x-token'] as string | undefined],
      },
    })
    const refused = await fetch(server.url, { headers: { authorization: 'Bearer wrong' } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="test"')
    expect(await refused.json()).toEqual({ error: { code: 'TEST_UNAUTHORIZED', message: 'send the test token' } })
    expect((await fetch(server.url, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200)
    expect((await fetch(server.url, { headers: { 'x-token': 's3cret' } })).status).toBe(200)
  })

  test('a method the server does not take gets 405 and the methods it takes', async () => {
    const server = await start({ methods: ['GET'] })
    const refused = await fetch(server.url, { method: 'DELETE' })
    expect(refused.status).toBe(405)
    expect(refused.headers.get('allow')).toBe('GET')
    expect(await refused.json()).toEqual({
      error: { code: 'HTTP_METHOD_NOT_ALLOWED', message: 'the test server takes GET requests only' },
    })
  })
})

describe('bodies', () => {
  const echo = (maxBytes: number) =>
    start({ handle: async (request, response) => sendJson(response, 200, { body: await readJson(request, maxBytes) }) })

  test('a body is read up to its limit; past it, 413 whether announced or streamed, and the server keeps answering', async () => {
    const server = await echo(100)
    const post = (body: string | ReadableStream<Uint8Array>, init: RequestInit = {}) =>
      fetch(server.url, { method: 'POST', body, ...init })
    expect(await (await post(JSON.stringify({ a: 'x'.repeat(80) }))).json()).toEqual({ body: { a: 'x'.repeat(80) } })
    const announced = await post('x'.repeat(101))
    expect(announced.status).toBe(413)
    expect(await announced.json()).toEqual({
      error: { code: 'HTTP_BODY_TOO_LARGE', message: 'the request body is over 100 bytes' },
    })
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(50)))
        controller.close()
      },
    })
    expect((await post(stream, { duplex: 'half' } as RequestInit)).status).toBe(413)
    expect((await post('{}')).status).toBe(200)
  })

  test('a body announced over the limit is refused before it is sent, and its connection closed', async () => {
    const server = await echo(100)
    const client = await open(server.url)
    client.socket.write(`POST / HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\nContent-Length: 1000000000\r\n\r\n`)
    expect(await client.closed).toBeLessThan(2000)
    expect(client.received()).toMatch(/^HTTP\/1\.1 413[\s\S]*HTTP_BODY_TOO_LARGE/)
  })

  test("an empty body is undefined; one that is not JSON gets 400 with the parser's reason and the server's hint", async () => {
    const server = await start({
      handle: async (request, response) =>
        sendJson(response, 200, { body: (await readJson(request, 100, { hint: 'send {"a": 1}' })) ?? null }),
    })
    expect(await (await fetch(server.url, { method: 'POST' })).json()).toEqual({ body: null })
    const bad = await fetch(server.url, { method: 'POST', body: '{a: 1}' })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toEqual({
      error: {
        code: 'HTTP_NOT_JSON',
        message: expect.stringMatching(/^the request body is not JSON \(.+\); send \{"a": 1\}$/),
      },
    })
  })

  test('readBody gives the text as sent', async () => {
    const server = await start({
      handle: async (request, response) => {
        response.end(await readBody(request, 10))
      },
    })
    expect(await (await fetch(server.url, { method: 'POST', body: 'héllo' })).text()).toBe('héllo')
  })
})
