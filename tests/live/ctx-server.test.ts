import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { Context, type ContextWrite } from '../../plugin/context/context.ts'
import { callCtxServer } from '../../plugin/live/ctx-client.ts'
import type { JsonObject } from '../../plugin/context/json-value.ts'
import { CtxServer } from '../../plugin/live/ctx-server.ts'
import { createRedactor } from '../../plugin/runtime/redact.ts'

const TOKEN = 'secret-token-for-the-test-run'
const RUN = {
  runId: 'R1',
  recipe: 'recipes/live.yaml',
  testId: 'LIVE-01',
  running: [{ step: 'soak', since: '2026-11-30T00:00:00.000Z' }],
}

let ctx: Context
let recorded: ContextWrite[]
let server: CtxServer

const serve = (record: (writes: ContextWrite[]) => void) =>
  CtxServer.start({ ctx, host: '127.0.0.1', port: 0, token: TOKEN, run: () => RUN, record })

beforeEach(async () => {
  ctx = new Context({ 'lab.seed_v1': 1 })
  recorded = []
  server = await serve((writes) => recorded.push(...writes))
})

afterEach(() => server.close())

const call = (request: Parameters<typeof callCtxServer>[2], token = TOKEN) => callCtxServer(server.url, token, request)

describe('the ctx server', () => {
  test('listens on loopback by default and answers which run it serves and which steps run', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const response = await fetch(`${server.url}/v1/run`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(await response.json()).toEqual(RUN)
  })

  test('every operation of update_state.sh, each write attributed and recorded', async () => {
    expect((await call({ op: 'get', key: 'lab.seed_v1' })).body).toMatchObject({ key: 'lab.seed_v1', value: 1 })
    const set = await call({ op: 'set', key: 'lab.state_v1', value: { link: 'up' }, who: 'traffic-gen' })
    expect(set).toMatchObject({ status: 200, body: { value: { link: 'up' }, revision: expect.any(Number) } })
    await call({ op: 'append', key: 'data.samples_v1', value: 1 })
    const appended = await call({ op: 'append', key: 'data.samples_v1', value: 2, who: 'probe' })
    expect(appended.body.value).toEqual([1, 2])
    const popped = await call({ op: 'pop', key: 'data.samples_v1', index: 0, who: 'probe' })
    expect(popped.body).toMatchObject({ popped: 1, value: [2] })
    expect((await call({ op: 'delete', key: 'lab.state_v1', who: 'traffic-gen' })).status).toBe(200)
    const full = await call({ op: 'full' })
    expect(full.body.values).toEqual({ 'lab.seed_v1': 1, 'data.samples_v1': [2] })
    expect(Object.keys(full.body.revisions as object).sort()).toEqual(['data.samples_v1', 'lab.seed_v1'])

    // Steps see the writes at once; the history and the recorder have them, with their writers.
    expect(ctx.has('lab.state_v1')).toBe(false)
    expect(ctx.get('data.samples_v1')).toEqual([2])
    expect(recorded.map((write) => [write.who, write.key, write.deleted ?? false])).toEqual([
      ['traffic-gen', 'lab.state_v1', false],
      ['api', 'data.samples_v1', false],
      ['probe', 'data.samples_v1', false],
      ['probe', 'data.samples_v1', false],
      ['traffic-gen', 'lab.state_v1', true],
    ])
    expect(ctx.history().slice(-5)).toEqual(recorded)
  })

  test('a write stating a stale revision gets 409 and the current revision, and changes nothing', async () => {
    const first = await call({ op: 'set', key: 'lab.count_v1', value: 1, expectRevision: 0 })
    expect(first.status).toBe(200)
    const revision = first.body.revision as number
    expect((await call({ op: 'set', key: 'lab.count_v1', value: 2, expectRevision: revision })).status).toBe(200)
    const stale = await call({ op: 'set', key: 'lab.count_v1', value: 99, expectRevision: revision })
    expect(stale.status).toBe(409)
    expect(stale.body.error).toMatchObject({ code: 'CTX_REVISION_CONFLICT', revision: ctx.revision('lab.count_v1') })
    expect(ctx.get('lab.count_v1')).toBe(2)
    // 0 means "only if it does not exist yet".
    expect((await call({ op: 'set', key: 'lab.count_v1', value: 5, expectRevision: 0 })).status).toBe(409)
  })

  test('with the run mask, answers show secrets as the store keeps them; ?reveal=1 gets them in clear', async () => {
    const secret = 'Sw1tch"S3c\\ret-2026!'
    const redactor = createRedactor([], { SWITCH_PASSWORD: secret })
    const masked = await CtxServer.start({
      ctx,
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      run: () => RUN,
      record: () => {},
      mask: { reference: (value) => redactor.reference(value), text: (text) => redactor.text(text) },
    })
    const ask = (request: Parameters<typeof callCtxServer>[2], reveal = false) =>
      callCtxServer(masked.url, TOKEN, request, { reveal })
    try {
      const login = { user: 'admin', password: secret }
      const set = await ask({ op: 'set', key: 'lab.login_v1', value: login, who: 'probe' })
      expect(set.body.value).toEqual({ user: 'admin', password: '***{SWITCH_PASSWORD}' })
      expect(ctx.get('lab.login_v1')).toEqual(login)
      expect((await ask({ op: 'get', key: 'lab.login_v1' })).body.value).toEqual(set.body.value)
      expect(((await ask({ op: 'full' })).body.values as JsonObject)['lab.login_v1']).toEqual(set.body.value)
      await ask({ op: 'append', key: 'data.passwords_v1', value: `pw ${secret}`, who: 'probe' })
      expect((await ask({ op: 'pop', key: 'data.passwords_v1', who: 'probe' })).body.popped).toBe(
        'pw ***{SWITCH_PASSWORD}',
      )
      // Declared at run time (tools.secret, ::add-mask::): masked from then on.
      redactor.add('tok-derived-1')
      await ask({ op: 'set', key: 'auth.token_v1', value: 'tok-derived-1', who: 'probe' })
      expect((await ask({ op: 'get', key: 'auth.token_v1' })).body.value).toBe('***{derived}')
      // Asked for explicitly: the raw values.
      expect((await ask({ op: 'get', key: 'lab.login_v1' }, true)).body.value).toEqual(login)
      expect((await ask({ op: 'get', key: 'auth.token_v1' }, true)).body.value).toBe('tok-derived-1')
      // An error message that quotes what was sent is masked, revealed or not.
      const refused = await ask({ op: 'set', key: `Bad${secret}`, value: 1, who: 'probe' }, true)
      expect(refused.status).toBe(422)
      expect(JSON.stringify(refused.body)).not.toContain('S3c')
    } finally {
      await masked.close()
    }
  })

  test('listens elsewhere only when told to, and still wants the token there', async () => {
    const wide = await CtxServer.start({
      ctx,
      host: '0.0.0.0',
      port: 0,
      token: TOKEN,
      run: () => RUN,
      record: () => {},
    })
    try {
      expect(wide.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/)
      const port = new URL(wide.url).port
      expect((await fetch(`http://127.0.0.1:${port}/v1/ctx`)).status).toBe(401)
      expect((await callCtxServer(`http://127.0.0.1:${port}`, TOKEN, { op: 'get', key: 'lab.seed_v1' })).status).toBe(
        200,
      )
    } finally {
      await wide.close()
    }
  })

  test('401 without the token or with a wrong one; nothing is read or written', async () => {
    const none = await fetch(`${server.url}/v1/ctx/lab.seed_v1`)
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toMatch(/Bearer/)
    const wrong = await call({ op: 'set', key: 'lab.x_v1', value: 1 }, 'not-the-token')
    expect(wrong.status).toBe(401)
    expect(ctx.has('lab.x_v1')).toBe(false)
  })

  test('a body that is not JSON, a bad key name and a non-list append are refused with what to do', async () => {
    const notJson = await fetch(`${server.url}/v1/ctx/lab.x_v1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: "{value: 'up'}",
    })
    expect(notJson.status).toBe(400)
    expect(((await notJson.json()) as { error: { message: string } }).error.message).toMatch(
      /not JSON .*the ctx holds JSON values only/,
    )
    // The same message as ctx.set gives a step.
    const badKey = await call({ op: 'set', key: 'LinkState', value: 'up', who: 'probe' })
    expect(badKey.status).toBe(422)
    let stepMessage = ''
    try {
      new Context().set('LinkState', 'up', { who: 'probe' })
    } catch (error) {
      stepMessage = (error as Error).message
    }
    expect(badKey.body.error).toEqual({ code: 'CTX_KEY_NAMING', message: stepMessage })
    const notList = await call({ op: 'append', key: 'lab.seed_v1', value: 2 })
    expect(notList.status).toBe(422)
    expect(notList.body.error).toMatchObject({ code: 'CTX_NOT_A_LIST' })
    expect((await call({ op: 'get', key: 'lab.none_v1' })).status).toBe(404)
    expect(recorded).toEqual([])
  })

  test('a burst of 1,000 writes from 4 concurrent clients loses nothing', async () => {
    const clients = [0, 1, 2, 3]
    await Promise.all(
      clients.map(async (client) => {
        for (let i = 0; i < 250; i++)
          await call({ op: 'append', key: 'data.burst_v1', value: client * 1000 + i, who: `client-${client}` })
      }),
    )
    const final = ctx.get<number[]>('data.burst_v1')!
    expect(final).toHaveLength(1000)
    for (const client of clients) {
      // Each client's writes, all there and in the order it made them.
      const own = final.filter((value) => Math.floor(value / 1000) === client)
      expect(own).toEqual(Array.from({ length: 250 }, (_, i) => client * 1000 + i))
    }
    expect(recorded).toHaveLength(1000)
    expect(ctx.history('data.burst_v1')).toHaveLength(1000)
    expect(new Set(recorded.map((write) => write.who))).toEqual(new Set(clients.map((client) => `client-${client}`)))
  })

  test('a write the recorder refuses is reported as applied but not recorded', async () => {
    await server.close()
    server = await serve(() => {
      throw new Error('disk full')
    })
    const reply = await call({ op: 'set', key: 'lab.y_v1', value: 1 })
    expect(reply.status).toBe(500)
    expect(reply.body.error).toMatchObject({ code: 'CTX_NOT_RECORDED', message: expect.stringContaining('disk full') })
  })
})
