import { expect, test } from 'vitest'
import { refuseUnrestorableReads, type ResumeSnapshot } from '../../plugin/store/resume.ts'

const snapshot = (unrestorable: ResumeSnapshot['unrestorable']): ResumeSnapshot => ({
  runId: 'R1',
  values: {},
  writes: [],
  ...(unrestorable ? { unrestorable } : {}),
})
const derived = snapshot([{ key: 'auth.token_v1', step: 'login', source: 'derived' }])

test('a key that cannot be restored stops a resume only when a step that will run reads it', async () => {
  expect(refuseUnrestorableReads(derived, [{ step: 'count', reads: ['lab.count_v1'] }])).toBeUndefined()
  expect(refuseUnrestorableReads(snapshot(undefined), [{ step: 'legacy', reads: undefined }])).toBeUndefined()
  expect(
    refuseUnrestorableReads(derived, [
      { step: 'legacy', reads: undefined },
      { step: 'use', reads: ['auth.token_v1'] },
    ]),
  ).toMatchInlineSnapshot(
    `"ctx key auth.token_v1 of run R1 holds a value derived from a secret at run time (tools.secret or ::add-mask::), which the store never keeps, and step "use", which will run, reads it: resume from "login" (the step that wrote it) or an earlier step"`,
  )
})

test('a step that declares nothing may read it: refused, saying so and what to declare', async () => {
  expect(refuseUnrestorableReads(derived, [{ step: 'legacy', reads: undefined }])).toMatchInlineSnapshot(
    `"ctx key auth.token_v1 of run R1 holds a value derived from a secret at run time (tools.secret or ::add-mask::), which the store never keeps, and step "legacy", which will run, does not declare what it reads, so it may read it: resume from "login" (the step that wrote it) or an earlier step; or declare its reads (\`reads\` of a TypeScript scriptlet, a \`# READS:\` header line of a shell or Python scriptlet) so only the steps that read the key stop a resume"`,
  )
})

test('a variable that is not set, and a derived value written through the ctx API, say what to do', async () => {
  const unset = snapshot([{ key: 'lab.login_v1', step: 'login', source: 'SWITCH_PASSWORD' }])
  expect(refuseUnrestorableReads(unset, [{ step: 'use', reads: ['lab.login_v1'] }])).toBe(
    'ctx key lab.login_v1 of run R1 holds the secret of the environment variable SWITCH_PASSWORD, which is not set, and step "use", which will run, reads it: set SWITCH_PASSWORD and resume again',
  )
  const api = snapshot([{ key: 'auth.token_v1', step: null, source: 'derived' }])
  expect(refuseUnrestorableReads(api, [{ step: 'use', reads: ['auth.token_v1'] }])).toMatch(
    /reads it: run the whole recipe again \(the value was written through the ctx API, outside any step\)$/,
  )
})
