/**
 * NAME:    inject_failure
 * DESC:    Fails on demand, to rehearse recovering from a failed step (--skip,
 *          --resume-from; see recipes/11_resilience_controls.yaml). It fails with a
 *          structured error, reason "injected failure", exit 1, when ANY of these is true:
 *            - its param `fail` is true;
 *            - the environment variable named by `env` (default INJECT_FAILURE) is 1, true
 *              or yes: `INJECT_FAILURE=1 node bin/recipes.js run recipes/11_resilience_controls.yaml`;
 *            - the file named by `marker` (default Data/.inject_failure) exists: handy where
 *              setting a variable is awkward (the VS Code test explorer);
 *              `touch Data/.inject_failure` to fail, `rm Data/.inject_failure` to stop.
 *          Otherwise it writes resilience.inject_ok_v1 and passes, so a plain run passes.
 * PARAMS:  fail (bool, default false); env (string, default INJECT_FAILURE);
 *          marker (string, default Data/.inject_failure: a path relative to the root)
 * INPUTS:  (none)
 * OUTPUTS: resilience.inject_ok_v1 ({ok: true, checked: [the triggers looked at]}).
 *          Deliberately NOT declared as `outputs`: nothing downstream reads the key, so
 *          `--skip inject_failure` leaves nothing missing and the steps after it still run
 *          (a skipped step that declares outputs blocks its dependents until ctx holds them).
 * ERRORS:  exit 1 "injected failure" {triggers: [...], recover: [...]}.
 */
import { existsSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { z } from 'zod'
import { defineScriptlet, ScriptletError } from 'vitest-recipes/scriptlet'

const insideRoot = (path: string) => !isAbsolute(path) && !path.split(/[\\/]/).includes('..')

export default defineScriptlet({
  name: 'inject_failure',
  reads: [],
  params: z.object({
    fail: z.boolean().default(false),
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'an environment variable name' })
      .default('INJECT_FAILURE'),
    marker: z
      .string()
      .min(1)
      .refine(insideRoot, { message: 'must be a relative path inside the project root (no "..")' })
      .default('Data/.inject_failure'),
  }),
  run(ctx, { fail, env, marker }, { step, root }) {
    const triggers: string[] = []
    if (fail) triggers.push('param fail: true')
    const value = process.env[env]
    if (value !== undefined && /^(1|true|yes)$/i.test(value.trim())) triggers.push(`env ${env}=${value}`)
    if (existsSync(resolve(root, marker))) triggers.push(`file ${marker} exists`)
    if (triggers.length > 0) {
      throw new ScriptletError('injected failure', {
        details: {
          triggers,
          recover: [
            `rerun with --skip ${step}`,
            'or rerun with --resume-from <the step after it>',
            `or clear the trigger (unset ${env}, rm ${marker}, fail: false)`,
          ],
        },
      })
    }
    ctx.set(
      'resilience.inject_ok_v1',
      { ok: true, checked: ['param fail', `env ${env}`, `file ${marker}`] },
      { who: step },
    )
    return { metrics: { injected: 0 } }
  },
})
