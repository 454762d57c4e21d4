import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { askForSummary, originOf } from '../../plugin/analysis/ai-summary.ts'

interface Seen {
  path: string
  authorization: string | undefined
  body: { model: string; messages: { role: string; content: string }[] }
}

/** A small OpenAI-compatible server on loopback: /v1/chat/completions answers by the model's name. */
let server: Server
let base: string
const seen: Seen[] = []

beforeAll(async () => {
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let text = ''
    request.on('data', (chunk) => {
      text += chunk
    })
    request.on('end', () => {
      const body = JSON.parse(text) as Seen['body']
      seen.push({ path: request.url ?? '', authorization: request.headers.authorization, body })
      const reply = (status: number, payload: string) => {
        response.writeHead(status, { 'content-type': 'application/json' })
        response.end(payload)
      }
      if (body.model === 'slow') return setTimeout(() => reply(200, '{}'), 5000).unref()
      if (body.model === 'broken') return reply(500, '{"error":"model crashed"}')
      if (body.model === 'odd') return reply(200, '{"result":"not a chat completion"}')
      reply(200, JSON.stringify({ choices: [{ message: { role: 'assistant', content: ' The link step failed. ' } }] }))
    })
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
})
afterAll(() => {
  server.closeAllConnections()
  server.close()
})

const PAYLOAD = {
  run: { test_id: 'SW-1', status: 'failed' },
  steps: [{ step: 'link', reason: 'login as s3cr3t-Passw0rd refused' }],
}

describe('askForSummary', () => {
  test('asks the chat completions endpoint with the key as a Bearer token, and masks secrets in what it sends', async () => {
    const env = { LAB_AI_KEY: 'sk-test-0123456789', LAB_PASSWORD: 's3cr3t-Passw0rd' }
    const ai = await askForSummary({ endpoint: `${base}/`, model: 'm1', apiKeyEnv: 'LAB_AI_KEY' }, PAYLOAD, env)
    expect(ai).toMatchObject({
      status: 'answered',
      model: 'm1',
      endpoint: new URL(base).origin,
      text: 'The link step failed.',
    })
    expect(ai.ms).toBeGreaterThanOrEqual(0)
    const request = seen.at(-1)!
    expect(request.path).toBe('/v1/chat/completions')
    expect(request.authorization).toBe('Bearer sk-test-0123456789')
    expect(request.body.messages.map((message) => message.role)).toEqual(['system', 'user'])
    const sent = request.body.messages[1]!.content
    expect(sent).toContain('login as *** refused')
    expect(sent).not.toContain('s3cr3t-Passw0rd')
  })

  test('a slow endpoint is given up after the timeout, and the run is told why', async () => {
    const started = performance.now()
    const ai = await askForSummary({ endpoint: base, model: 'slow', timeoutMs: 300 }, PAYLOAD, {})
    expect(performance.now() - started).toBeLessThan(3000)
    expect(ai).toMatchObject({ status: 'unavailable', reason: 'no answer within 300 ms' })
  })

  test('an error status, an answer that is not a chat completion, a closed port and a missing key are unavailable, never thrown', async () => {
    expect(await askForSummary({ endpoint: base, model: 'broken' }, PAYLOAD, {})).toMatchObject({
      status: 'unavailable',
      reason: 'HTTP 500 Internal Server Error: {"error":"model crashed"}',
    })
    expect(await askForSummary({ endpoint: base, model: 'odd' }, PAYLOAD, {})).toMatchObject({
      status: 'unavailable',
      reason: 'the answer was not an OpenAI-style chat completion (no choices[0].message.content)',
    })
    const closed = createServer()
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done))
    const port = (closed.address() as AddressInfo).port
    await new Promise((done) => closed.close(done))
    expect(await askForSummary({ endpoint: `http://127.0.0.1:${port}/v1`, model: 'm' }, PAYLOAD, {})).toMatchObject({
      status: 'unavailable',
      reason: 'connection refused (is the model server running?)',
    })
    const before = seen.length
    expect(await askForSummary({ endpoint: base, model: 'm', apiKeyEnv: 'NO_SUCH_KEY' }, PAYLOAD, {})).toMatchObject({
      status: 'unavailable',
      reason: 'the environment variable NO_SUCH_KEY (analysis.ai.apiKeyEnv) is not set',
    })
    expect(seen.length).toBe(before)
  })

  test('runs ending together share one wait: once it is used up, the endpoint is not asked', async () => {
    const before = seen.length
    const ai = await askForSummary({ endpoint: base, model: 'm', timeoutMs: 500 }, PAYLOAD, {}, performance.now() - 1)
    expect(ai).toMatchObject({
      status: 'unavailable',
      reason: 'not asked: the 500 ms allowed for AI summaries after this Vitest run were used up',
    })
    expect(seen.length).toBe(before)
    const left = await askForSummary(
      { endpoint: base, model: 'slow', timeoutMs: 5000 },
      PAYLOAD,
      {},
      performance.now() + 200,
    )
    expect(left).toMatchObject({ status: 'unavailable', reason: 'no answer within 5000 ms' })
    // Given up when the shared wait ended, long before the 5 s of its own timeout.
    expect(left.ms).toBeLessThan(2000)
  })

  test('reports show the endpoint without credentials or path', () => {
    expect(originOf('https://lab:pw@models.lab.internal:8443/v1?key=x')).toBe('https://models.lab.internal:8443')
    expect(originOf('not a url')).toBe('an invalid URL')
  })
})
