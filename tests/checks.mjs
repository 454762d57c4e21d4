#!/usr/bin/env node
// What `npm test` runs before the tests: the build (the end-to-end tests run dist/), the
// typecheck and the lint, side by side (one after the other they took ~25 s of the suite's
// 7 minutes on 2 cores). Each one's output is printed when it ends; the exit code is the first
// failure's, after all three have ended.
import { spawn } from 'node:child_process'

const CHECKS = ['build', 'typecheck', 'lint']
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

function run(script) {
  return new Promise((resolve) => {
    const started = performance.now()
    const child = spawn(npm, ['run', '--silent', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    const output = []
    child.stdout.on('data', (chunk) => output.push(chunk))
    child.stderr.on('data', (chunk) => output.push(chunk))
    child.on('error', (error) => resolve({ script, code: 1, output: [Buffer.from(`${error.message}\n`)], started }))
    child.on('close', (code, signal) => resolve({ script, code: code ?? (signal ? 1 : 0), output, started }))
  })
}

const results = await Promise.all(
  CHECKS.map((script) =>
    run(script).then((result) => {
      const seconds = ((performance.now() - result.started) / 1000).toFixed(1)
      const text = Buffer.concat(result.output).toString()
      process.stdout.write(
        `npm run ${script}: ${result.code === 0 ? 'ok' : `failed (exit ${result.code})`} in ${seconds} s\n`,
      )
      if (result.code !== 0 && text.trim()) process.stdout.write(`${text.trimEnd()}\n`)
      return result
    }),
  ),
)
process.exitCode = results.find((result) => result.code !== 0)?.code ?? 0
