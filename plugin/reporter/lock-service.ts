import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { HttpError, type HttpServer, readJson, sendJson, startHttpServer } from '../live/http-server.ts'
import { ingestJournals } from '../store/ingest.ts'
import type { LockRequest } from '../store/resource-locks.ts'
import type { RunStore } from '../store/run-store.ts'

/** What a recipe file asks the Vitest process for (POST /locks, JSON, bearer token). */
export type LockCall =
  | ({ op: 'acquire'; file: string } & LockRequest)
  | { op: 'release'; runId: string; step?: string }
  | { op: 'stop-waiting'; runId: string }
  | { op: 'check'; runId: string; holds: { resource: string; generation: number }[] }
  | { op: 'holder-stopped'; resource: string; generation: number; at: string; reason?: string }

/** A lock call is a few names: anything bigger is not one. */
const MAX_BODY_BYTES = 64 * 1024

/**
 * The lab resource locks of the store this Vitest process keeps, served to its recipe files
 * (which never open SQLite) on loopback with a token only they are given. The process renews
 * the heartbeat of every hold and wait it made every second (a lease only for hosts that
 * cannot see this one's processes); when a recipe file ends, whatever its runs still hold
 * lasts only while the worker that ran them or its runner guard lives.
 */
export class LockService {
  private readonly store: RunStore
  private readonly token = randomBytes(24).toString('hex')
  private http: HttpServer | undefined
  /** The runs each recipe file asked for, to release them when the file ends. */
  private readonly runsOf = new Map<string, Set<string>>()

  constructor(store: RunStore) {
    this.store = store
  }

  async start(): Promise<{ url: string; token: string }> {
    this.http = await startHttpServer({
      name: 'the lock service',
      host: '127.0.0.1',
      port: 0,
      listenHint: 'the Vitest process needs a free loopback port',
      auth: {
        token: this.token,
        realm: 'vitest-recipes locks',
        code: 'LOCKS_UNAUTHORIZED',
        message: "missing or wrong token: the lock service answers the Vitest process's own recipe files only",
      },
      methods: ['POST'],
      handle: (request, response) => this.handle(request, response),
    })
    this.http.server.unref()
    return { url: `${this.http.url}/locks`, token: this.token }
  }

  /** Renews the leases of this process's holds and waits (called every second). */
  async heartbeat(): Promise<void> {
    if (this.runsOf.size > 0) await this.store.locks.heartbeat()
  }

  /**
   * A recipe file ended (or its worker died): what its runs still hold lasts only as long as
   * their keepers (the runner guard stopping the steps of a worker that died); the rest ends now.
   */
  async fileEnded(file: string): Promise<void> {
    const runs = this.runsOf.get(file) ?? []
    this.runsOf.delete(file)
    for (const runId of runs) await this.store.locks.abandon(runId)
  }

  async close(): Promise<void> {
    for (const file of [...this.runsOf.keys()]) await this.fileEnded(file)
    const http = this.http
    this.http = undefined
    await http?.close()
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const answer = (status: number, body: unknown) => sendJson(response, status, body)
    const call = await readCall(request)
    try {
      if (call.op === 'acquire') {
        const runs = this.runsOf.get(call.file) ?? new Set()
        // A run's first request: what its journal holds (its run row) is stored before it holds
        // anything, so a holder killed at once is still a run of the shared store, marked interrupted.
        if (!runs.has(call.runId)) await ingestJournals(this.store)
        runs.add(call.runId)
        this.runsOf.set(call.file, runs)
        const { file: _file, op: _op, ...lock } = call
        return answer(200, await this.store.locks.tryAcquire(lock))
      }
      if (call.op === 'release') {
        await this.store.locks.release(call.runId, call.step)
        return answer(200, { released: true })
      }
      if (call.op === 'check') return answer(200, { lost: await this.store.locks.check(call.runId, call.holds) })
      if (call.op === 'holder-stopped') {
        await this.store.locks.holderStopped(call.resource, call.generation, call.at, call.reason)
        return answer(200, { recorded: true })
      }
      if (call.op === 'stop-waiting') {
        await this.store.locks.stopWaiting(call.runId)
        return answer(200, { stopped: true })
      }
    } catch (error) {
      throw new HttpError(500, 'LOCKS_FAILED', (error as Error).message)
    }
  }
}

const LOCK_OPS: readonly string[] = [
  'acquire',
  'release',
  'stop-waiting',
  'check',
  'holder-stopped',
] satisfies LockCall['op'][]

/** The request's lock call: a JSON object whose `op` is one of LOCK_OPS (its fields are the caller's, this process's own code). */
async function readCall(request: IncomingMessage): Promise<LockCall> {
  const call = (await readJson(request, MAX_BODY_BYTES)) as { op?: unknown } | undefined
  if (typeof call !== 'object' || call === null || !LOCK_OPS.includes(call.op as string))
    throw new HttpError(
      400,
      'LOCKS_UNKNOWN_OP',
      `not a lock call: ${JSON.stringify(call?.op ?? null)} is none of the ops ${LOCK_OPS.join(', ')}`,
    )
  return call as LockCall
}
