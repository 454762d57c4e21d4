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
    let settled = 0
    let closed = 0
    for (let i = 0; i < 300; i++) {
      const socket = connect(Number(port), '127.0.0.1')
      sockets.push(socket)
      socket.on('error', () => {})
      socket.on('close', () => closed++)
      socket.on('connect', () => {
        if (++settled === 300) setTimeout(() => resolve(closed), 300)
      })
    }
  })
  expect(closedEarly).toBeGreaterThanOrEqual(300 - 256)
  for (const socket of sockets.splice(0)) socket.destroy()
  await new Promise((resolve) => setTimeout(resolve, 100))
  expect((await call({ op: 'release', runId: 'r1' })).status).toBe(200)
})
