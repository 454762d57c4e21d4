import { readdirSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createProject, type TestProject } from './project.ts'

// Every run is analysed against its test_id's history when it ends, and an OpenAI-compatible
// endpoint (a small server on loopback here, never a real service) adds a summary when the
// plugin option analysis.ai names it. The runs are real: `vitest run`, five side by side
// (one Vitest project per copy), then one with a metric far off, a new failure and a retry.
const FILES = {
  'scriptlets/measure.ts': `import { defineScriptlet } from 'vitest-recipes/scriptlet'

/** Reports the throughput LAB_THROUGHPUT says (default 940) as a metric. */
export default defineScriptlet({
  name: 'measure',
  run: () => ({ metrics: { throughput: Number(process.env.LAB_THROUGHPUT ?? 940) } }),
})
`,
  'scriptlets/flaky.ts': `import { existsSync, writeFileSync } from 'node:fs'
import { defineScriptlet } from 'vitest-recipes/scriptlet'

/** With LAB_FLAKY=1, fails once (leaving flaky.failed behind): passes on its retry. */
export default defineScriptlet({
  name: 'flaky',
  run() {
    if (process.env.LAB_FLAKY !== '1' || existsSync('flaky.failed')) return
    writeFileSync('flaky.failed', '')
    throw new Error('link flapped')
  },
})
`,
  'scriptlets/link.ts': `import { defineScriptlet } from 'vitest-recipes/scriptlet'

/** With LAB_LINK_DOWN=1, fails with a reason that holds the lab password. */
export default defineScriptlet({
  name: 'link',
  run() {
    if (process.env.LAB_LINK_DOWN === '1') throw new Error(\`login with \${process.env.LAB_PASSWORD} refused by the switch\`)
  },
})
`,
  'recipes/uplink.yaml': `test_meta: { test_id: AN-1 }
steps:
  - { idx: 1, name: measure, type: ts, module: scriptlets/measure.ts }
  - { idx: 2, name: flaky, type: ts, module: scriptlets/flaky.ts, retry: 1 }
  - { idx: 3, name: link, type: ts, module: scriptlets/link.ts }
`,
}
const CONFIG = `import { defineConfig } from 'vitest/config'
import recipes from 'vitest-recipes'

// LAB_COPIES=n runs the recipe n times, one Vitest project each: n stored runs from one process.
const copies = Number(process.env.LAB_COPIES ?? 1)
const ai = process.env.LAB_AI_URL
  ? { endpoint: process.env.LAB_AI_URL, model: process.env.LAB_AI_MODEL, apiKeyEnv: 'LAB_AI_KEY', timeoutMs: Number(process.env.LAB_AI_TIMEOUT ?? 20000) }
  : false
export default defineConfig({
  plugins: [recipes({ reports: process.env.LAB_NO_REPORTS ? false : { formats: ['md'] }, analysis: { ai } })],
  test: { projects: Array.from({ length: copies }, (_, i) => ({ extends: true, test: { name: \`copy-\${i + 1}\` } })) },
})
`
const PASSWORD = 'Sw1tch-Adm1n-Passw0rd'

let project: TestProject
let server: Server
let aiUrl: string
const requests: { authorization: string | undefined; content: string }[] = []

beforeAll(async () => {
  project = createProject(FILES, { config: CONFIG })
  // model "lab-model" answers; "stalled" never does (the reports must not wait past timeoutMs).
  server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => {
      body += chunk
    })
    request.on('end', () => {
      const { model, messages } = JSON.parse(body) as { model: string; messages: { content: string }[] }
      requests.push({ authorization: request.headers.authorization, content: messages[1]!.content })
      if (model === 'stalled') return
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(
        JSON.stringify({
          choices: [{ message: { content: 'Throughput halved and link failed: check the uplink optics.' } }],
        }),
      )
    })
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  aiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
})
afterAll(() => {
  server.closeAllConnections()
  server.close()
  project.remove()
})

function analyses(): {
  runId: string
  status: string
  summary: string
  metrics: string
  ai: string | null
  aiDetails: string | null
}[] {
  const store = new Database(join(project.root, 'reports/results.sqlite'), { readonly: true })
  try {
    return store
      .prepare(
        `SELECT runs.run_id AS runId, runs.status, analysis.summary_text AS summary, analysis.metrics,
                analysis.ai_summary AS ai, analysis.ai_details AS aiDetails
         FROM runs LEFT JOIN analysis USING (run_id) ORDER BY runs.start_time, runs.rowid`,
      )
      .all() as ReturnType<typeof analyses>
  } finally {
    store.close()
  }
}

test('every run is analysed against its history, with reports off too; the first says it has none', async () => {
  const result = await project.vitest(['run', 'recipes/'], { env: { LAB_COPIES: '5', LAB_NO_REPORTS: '1' } })
  expect(result.code, result.output).toBe(0)
  const rows = analyses()
  expect(rows).toHaveLength(5)
  // Every run has its analysis row although no document was written.
  expect(rows.every((row) => row.summary?.includes('Run passed: 3 steps recorded'))).toBe(true)
  expect(readdirSync(join(project.root, 'reports')).filter((name) => name.startsWith('20'))).toEqual([])
  const histories = rows.map((row) => JSON.parse(row.metrics).heuristic.history_runs as number).sort()
  // Side by side, each run sees the copies that started before it (start times can tie: at least one sees none).
  expect(histories[0]).toBe(0)
  expect(
    rows.some((row) => row.summary.includes('Heuristic: No history: this is the first finished run of AN-1')),
  ).toBe(true)
  expect(rows.every((row) => row.ai === null && row.aiDetails === null)).toBe(true)
})

test('a metric far off, a new failure and a retried step are named with their numbers; the AI summary is beside them, secrets masked', async () => {
  const result = await project.vitest(['run', 'recipes/'], {
    env: {
      LAB_THROUGHPUT: '470',
      LAB_LINK_DOWN: '1',
      LAB_FLAKY: '1',
      LAB_PASSWORD: PASSWORD,
      LAB_AI_URL: aiUrl,
      LAB_AI_MODEL: 'lab-model',
      LAB_AI_KEY: 'sk-lab-0123456789abcdef',
    },
  })
  expect(result.code, result.output).toBe(1)
  const origin = new URL(aiUrl).origin
  expect(result.output).toContain(`recipes/uplink.yaml  AI summary from lab-model at ${origin} in`)
  const latest = analyses().at(-1)!
  expect(latest.status).toBe('failed')
  const lines = latest.summary.split('\n')
  const { heuristic } = JSON.parse(latest.metrics) as {
    heuristic: { compared: number; anomalies: { step: string; measure: string }[] }
  }
  // Timings on a loaded machine may stray too (the retried step took two attempts): the
  // metric is the anomaly this test makes, whatever else the sentence counts.
  expect(heuristic.anomalies).toContainEqual(expect.objectContaining({ step: 'measure', measure: 'throughput' }))
  expect(lines).toContain(
    'Heuristic: Compared with the 5 latest passing runs of AN-1 (median and MAD of each figure; an anomaly is a robust z beyond ±3.5): ' +
      `${heuristic.compared} figures, ${heuristic.anomalies.length} outside.`,
  )
  expect(lines).toContain(
    'Heuristic: Anomaly: step measure reported throughput = 470, against a median of 940 (MAD 0) over 5 passing runs: -50%, robust z unbounded (every earlier value was the same).',
  )
  expect(
    lines.find((line) => line.startsWith('Heuristic: New failure: link failed; it passed in the previous run (')),
  ).toBeDefined()
  expect(lines).toContain(
    'Heuristic: Flaky: flaky passed only on attempt 2; it failed or needed a retry in 0 of its 5 earlier runs.',
  )
  expect(latest.ai).toBe('Throughput halved and link failed: check the uplink optics.')
  expect(JSON.parse(latest.aiDetails!)).toMatchObject({ status: 'answered', model: 'lab-model', endpoint: origin })

  const request = requests.at(-1)!
  expect(request.authorization).toBe('Bearer sk-lab-0123456789abcdef')
  expect(request.content).toContain('login with *** refused by the switch')
  expect(request.content).not.toContain(PASSWORD)
  expect(request.content).toContain('"throughput":470')

  const report = project.read(`reports/${latest.runId}/report.md`)
  expect(report).toContain('- Heuristic: Anomaly: step measure reported throughput = 470')
  expect(report).toContain(
    `### AI suggestion (lab-model at ${origin}): check it against the data\n\n> Throughput halved and link failed: check the uplink optics.`,
  )
  expect(report).not.toContain(PASSWORD)
})

test('an endpoint that never answers is given up after timeoutMs: the run and its documents say the summary is unavailable', async () => {
  const result = await project.vitest(['run', 'recipes/'], {
    env: { LAB_AI_URL: aiUrl, LAB_AI_MODEL: 'stalled', LAB_AI_KEY: 'sk-lab-0123456789abcdef', LAB_AI_TIMEOUT: '1500' },
  })
  expect(result.code, result.output).toBe(0)
  expect(result.output).toContain(
    `recipes/uplink.yaml  AI summary unavailable (stalled at ${new URL(aiUrl).origin}): no answer within 1500 ms`,
  )
  const latest = analyses().at(-1)!
  expect(latest.ai).toBeNull()
  expect(JSON.parse(latest.aiDetails!)).toMatchObject({ status: 'unavailable', reason: 'no answer within 1500 ms' })
  expect(latest.summary).toContain('Heuristic: Fixed: link passed; it failed in the previous run (')
  expect(project.read(`reports/${latest.runId}/report.md`)).toContain(
    `### AI summary unavailable\n\n> stalled at ${new URL(aiUrl).origin} gave no summary: no answer within 1500 ms. The heuristic analysis stands alone.`,
  )
})

test('recipes report keeps the stored analysis, and --analyze makes it again with the options of the config', async () => {
  const latest = analyses().at(-1)!
  const kept = await project.recipes(['report', '--run', latest.runId, '--format', 'md'])
  expect(kept.code, kept.output).toBe(0)
  expect(analyses().at(-1)!.aiDetails).toBe(latest.aiDetails)
  // Without LAB_AI_URL the config has no AI: the analysis made again has none.
  const again = await project.recipes(['report', '--run', latest.runId, '--format', 'md', '--analyze'])
  expect(again.code, again.output).toBe(0)
  const redone = analyses().at(-1)!
  expect(redone.aiDetails).toBeNull()
  expect(redone.summary).toContain('Heuristic: Fixed: link passed; it failed in the previous run (')
  expect(project.read(`reports/${latest.runId}/report.md`)).not.toContain('AI summary')
})
