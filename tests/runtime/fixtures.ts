// The scriptlets and scripts the runtime tests run: real modules and scripts written into
// each test project, plain objects and functions (a scriptlet needs no import of this package).

/** scriptlets/steps.ts: one export per behaviour a step can have. */
export const STEPS_MODULE = `import { appendFileSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** Writes params.key = params.value (default: the step name); throws params.fail instead. */
export const set = {
  name: 'set',
  run(ctx, params, { step }) {
    if (params.fail) throw new Error(params.fail)
    ctx.set(params.key, params.value ?? step, { who: step })
    return { outputs: [params.key] }
  },
}

/** Declares the key it writes: a step that is skipped leaves it missing. */
export const produce = {
  name: 'produce',
  outputs: ['lab.value_v1'],
  run(ctx, _params, { step }) {
    ctx.set('lab.value_v1', 21, { who: step })
  },
}

/** Counts its runs in params.counter (a file), writes params.key; fails until run params.succeed_on. */
export const flaky = {
  name: 'flaky',
  run(ctx, params, { step, root }) {
    const counter = join(root, params.counter)
    mkdirSync(dirname(counter), { recursive: true })
    appendFileSync(counter, 'x')
    const attempt = readFileSync(counter, 'utf8').length
    // A retry starts from the ctx the step had before its first attempt.
    if (ctx.has('flaky.leftover_v1')) throw new Error('ctx was not restored before the retry')
    ctx.set('flaky.leftover_v1', true, { who: step })
    if (params.succeed_on === 0 || attempt < params.succeed_on) throw new Error('transient failure on attempt ' + attempt)
    ctx.set(params.key, attempt, { who: step })
  },
}

/** Sleeps params.ms, then writes {start, end} (ms since epoch) under params.key. */
export const waits = {
  name: 'waits',
  async run(ctx, params, { step }) {
    const start = Date.now()
    await new Promise((resolve) => setTimeout(resolve, params.ms))
    ctx.set(params.key, { start, end: Date.now() }, { who: step })
  },
}

/** Ignores its deadline and its abort signal: writes its key after params.ms, whatever happened meanwhile. */
export const late = {
  name: 'late',
  async run(ctx, params, { step }) {
    await new Promise((resolve) => setTimeout(resolve, params.ms))
    ctx.set(params.key, 'too late', { who: step })
  },
}

/** Never returns and ignores its abort signal: an in-process step that can only be abandoned. */
export const hangs = {
  name: 'hangs',
  run() {
    return new Promise(() => {})
  },
}

/** Runs until its abort signal fires. */
export const untilAborted = {
  name: 'until_aborted',
  run(_ctx, _params, tools) {
    return new Promise((resolve) => tools.signal.addEventListener('abort', () => resolve(undefined), { once: true }))
  },
}

/** Prints, so its step has a log to write. */
export const prints = {
  name: 'prints',
  run(ctx, params, { step }) {
    console.log('printed by ' + step)
    ctx.set(params.key, 1, { who: step })
  },
}

/** Fails with a message that quotes the environment variable params.variable. */
export const leaks = {
  name: 'leaks',
  run(ctx, params, { step }) {
    const secret = process.env[params.variable]
    console.log('logging in with ' + secret)
    ctx.set('lab.login_v1', { user: 'admin', password: secret }, { who: step })
    throw new Error('login refused for password ' + secret)
  },
}
`

/** scriptlets/exits.sh: says why on stderr and exits with $1, without an envelope. */
export const EXITS_SCRIPT = `#!/bin/sh
echo "cannot reach the switch at 10.0.0.1" >&2
exit "$1"
`
