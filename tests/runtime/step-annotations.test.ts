import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import type { RecipeStepMeta } from '../../plugin/runtime/meta.ts'
import { stepAnnotations } from '../../plugin/runtime/recipe-run.ts'
import { createRedactor } from '../../plugin/runtime/redact.ts'
import type { StepResult } from '../../plugin/runtime/step-record.ts'

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-annotations-'))
mkdirSync(join(root, 'Logs/run-1'), { recursive: true })
writeFileSync(join(root, 'Logs/run-1/2_breaks.log'), 'the masked log\n')
afterAll(() => rmSync(root, { recursive: true, force: true }))

const plain = createRedactor([], {})
const result = (meta: Partial<RecipeStepMeta>, extra: Partial<StepResult> = {}): StepResult => ({
  meta: { step: 'breaks', status: 'passed', setup: [], attempts: [], ...meta } as RecipeStepMeta,
  ...extra,
})
const LOG = { path: join(root, 'Logs/run-1/2_breaks.log'), contentType: 'text/plain' }

test("a failed step's test says why and where its log is; the log is attached to a short annotation of its own", () => {
  expect(
    stepAnnotations(
      result({ status: 'failed', reason: 'the device said no', logPath: 'Logs/run-1/2_breaks.log' }),
      root,
      plain,
    ),
  ).toEqual([
    { type: 'error', message: 'failed: the device said no (log: Logs/run-1/2_breaks.log)' },
    { type: 'notice', message: 'log: 2_breaks.log', attachment: LOG },
  ])
})

test('a blocked step says which step blocked it, as a warning', () => {
  expect(
    stepAnnotations(
      result({
        status: 'blocked',
        reason: 'blocked: load failed',
        blockedBy: 'load',
        logPath: 'Logs/run-1/2_breaks.log',
      }),
      root,
      plain,
    ),
  ).toEqual([
    { type: 'warning', message: 'blocked: load failed (log: Logs/run-1/2_breaks.log)' },
    { type: 'notice', message: 'log: 2_breaks.log', attachment: LOG },
  ])
})

test("a passed step's log is a notice of its own; a log not on disk yet (RAM logs) is not attached", () => {
  expect(stepAnnotations(result({ logPath: 'Logs/run-1/2_breaks.log' }), root, plain)).toEqual([
    { type: 'notice', message: 'log: 2_breaks.log', attachment: LOG },
  ])
  expect(stepAnnotations(result({ logPath: 'Logs/run-1/9_elsewhere.log' }), root, plain)).toEqual([])
  expect(stepAnnotations(result({}), root, plain)).toEqual([])
})

test('retries, setup, cache and waits for lab resources are notices; a wait shorter than one poll is not', () => {
  const attempts = [
    { attempt: 1, status: 'failed', reason: 'flaky link', durationMs: 5 },
    { attempt: 2, status: 'passed', durationMs: 5 },
  ] as RecipeStepMeta['attempts']
  expect(
    stepAnnotations(
      result({
        setup: ['load'],
        attempts,
        maxAttempts: 3,
        envelope: { status: 'ok', metrics: { resource_wait_ms: 2_500 } } as unknown as NonNullable<
          RecipeStepMeta['envelope']
        >,
      }),
      root,
      plain,
    ).map((note) => [note.type, note.message]),
  ).toEqual([
    [
      'notice',
      'breaks ran load first as setup (filtered out by the test filter: -t, --tags-filter or the IDE); its time includes theirs',
    ],
    ['notice', 'passed on attempt 2 of 3 (attempt 1: failed (flaky link); attempt 2: passed)'],
    ['notice', 'waited 2.5 s for lab resources before running'],
  ])
  const quick = { status: 'ok', metrics: { resource_wait_ms: 3 } } as unknown as NonNullable<RecipeStepMeta['envelope']>
  expect(stepAnnotations(result({ envelope: quick }), root, plain)).toEqual([])
  expect(stepAnnotations(result({ status: 'cached', cachedFrom: 'run-0' }), root, plain)).toEqual([
    { type: 'notice', message: 'cached: replayed the ctx writes of run run-0' },
  ])
})

test('secret values are masked in every annotation', () => {
  const redactor = createRedactor(['LAB_TOKEN'], { LAB_TOKEN: 'tok-9f8e7d6c5b4a' })
  const [note] = stepAnnotations(
    result({ status: 'failed', reason: 'login with tok-9f8e7d6c5b4a refused' }),
    root,
    redactor,
  )
  expect(note!.message).not.toContain('tok-9f8e7d6c5b4a')
  expect(note!.message).toMatch(/^failed: login with \*+ refused$/)
})
