import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { LockService } from '../../plugin/reporter/lock-service.ts'
import { RunStore } from '../../plugin/store/run-store.ts'

// The lock service runs on the shared hardened server (live/http-server.ts): its token, its
// Host check and its connection limit, seen from a client.
const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-locks-'))
let store: RunStore
let service: LockService
let address: { url: string; token: string }
const sockets: Socket[] = []

beforeAll(async () => {
  store = await RunStore.open(join(root, 'results.sqlite'), 'results.sqlite')
  service = new LockService(store)
  address = await service.start()
})
afterAll(async () => {
  for (const socket of sockets) socket.destroy()
  await service.close()
  await store.close()
  rmSync(root, { recursive: true, force: true })
})

const call = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(address.url, {
    method: 'POST',
    headers: { authorization: `Bearer ${address.token}`, ...headers },
    body: JSON.stringify(body),
  })

test('a call with the token is answered; without it, 401', async () => {
  const released = await call({ op: 'release', runId: 'r1' })
  expect(released.status).toBe(200)
  expect(await released.json()).toEqual({ released: true })
  expect((await call({ op: 'release', runId: 'r1' }, { authorization: 'Bearer wrong' })).status).toBe(401)
})

test('past 256 connections, new ones are closed at once, and calls are answered again once the flood ends', async () => {
  const { port } = new URL(address.url)
  const closedEarly = await new Promise<number>((resolve) => {
    let closed = 0
    // The server closes the ones past its cap as they arrive; on a loaded machine that can take
    // a moment, so this waits for them (up to 3 s: below the 5 s a client gets for its headers,
    // which would close them all without a cap) instead of looking once after 300 ms.
    const deadline = setTimeout(() => resolve(closed), 3_000)
    for (let i = 0; i < 300; i++) {
      const socket = connect(Number(port), '127.0.0.1')
      sockets.push(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        if (++closed === 300 - 256) {
          clearTimeout(deadline)
          resolve(closed)
        }
      })
    }
  })
  expect(closedEarly).toBeGreaterThanOrEqual(300 - 256)
  for (const socket of sockets.splice(0)) socket.destroy()
  await new Promise((resolve) => setTimeout(resolve, 100))
  expect((await call({ op: 'release', runId: 'r1' })).status).toBe(200)
})

/** A POST of `body` bytes to the lock service: announced by Content-Length, or streamed in chunks without one. */
async function post(body: string, { chunked = false } = {}): Promise<Response> {
  const headers = { authorization: `Bearer ${address.token}`, 'content-type': 'application/json' }
  if (!chunked) return fetch(address.url, { method: 'POST', headers, body })
  const bytes = new TextEncoder().encode(body)
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < bytes.length; at += 16 * 1024) controller.enqueue(bytes.slice(at, at + 16 * 1024))
      controller.close()
    },
  })
  return fetch(address.url, { method: 'POST', headers, body: stream, duplex: 'half' } as RequestInit)
}

test('a body over 64 KiB is refused with 413, announced or streamed, and the service keeps answering', async () => {
  const big = JSON.stringify({ op: 'release', runId: 'r1', padding: 'x'.repeat(1024 * 1024) })
  for (const chunked of [false, true]) {
    const refused = await post(big, { chunked })
    expect(refused.status).toBe(413)
    expect(await refused.json()).toEqual({
      error: { code: 'HTTP_BODY_TOO_LARGE', message: 'the request body is over 65536 bytes' },
    })
    expect((await call({ op: 'release', runId: 'r1' })).status).toBe(200)
  }
})

test('every refusal says what was wrong in one shape: { error: { code, message } }', async () => {
  const unauthorized = await call({ op: 'release', runId: 'r1' }, { authorization: 'Bearer wrong' })
  expect(unauthorized.headers.get('www-authenticate')).toMatch(/^Bearer /)
  expect(await unauthorized.json()).toEqual({
    error: { code: 'LOCKS_UNAUTHORIZED', message: expect.stringMatching(/token/) },
  })
  const notJson = await post('{op: release}')
  expect(notJson.status).toBe(400)
  expect(await notJson.json()).toEqual({
    error: { code: 'HTTP_NOT_JSON', message: expect.stringMatching(/^the request body is not JSON/) },
  })
  const unknown = await call({ op: 'steal' })
  expect(unknown.status).toBe(400)
  expect(await unknown.json()).toEqual({ error: { code: 'LOCKS_UNKNOWN_OP', message: expect.stringMatching(/steal/) } })
  const get = await fetch(address.url, { headers: { authorization: `Bearer ${address.token}` } })
  expect(get.status).toBe(405)
  expect(await get.json()).toEqual({ error: { code: 'HTTP_METHOD_NOT_ALLOWED', message: expect.any(String) } })
})
