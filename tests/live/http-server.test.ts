import { connect, type Socket } from 'node:net'
import { hostname } from 'node:os'
import { afterEach, describe, expect, test } from 'vitest'
import { type HttpServer, startHttpServer, tokenMatches } from '../../plugin/live/http-server.ts'

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
