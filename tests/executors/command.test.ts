import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { runCommandStep } from '../../plugin/executors/command.ts'
import { removeCtxFiles } from '../../plugin/executors/ctx-file.ts'
import { stepInput } from './steps.ts'

// Scripts as an older-framework user brings them: written here, byte for byte, because a
// Windows editor's CRLF or a latin1 byte would not survive an editor or git in a fixture file.
const root = mkdtempSync(join(tmpdir(), 'vr-command-'))
const options = { pythonExecutable: 'python3' }

afterAll(() => {
  removeCtxFiles()
  rmSync(root, { recursive: true, force: true })
})

function script(name: string, content: string | Buffer): string {
  writeFileSync(join(root, name), content)
  chmodSync(join(root, name), 0o755)
  return name
}

async function run(command: string, params: Record<string, string> = {}, type: 'shell' | 'exec' = 'shell') {
  const input = stepInput({ name: 'legacy', type, command: type === 'exec' ? [`./${command}`] : command, params })
  return (await runCommandStep({ ...input, root }, options)).envelope
}

const LEGACY_BODY = [
  '# NAME: count-lines.sh',
  '# DESC: Count lines in a text file and emit JSON.',
  'set -euo pipefail',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the script's own bash expansion
  'INPUT="${INPUT:?missing INPUT}"',
  'echo "{\\"status\\":\\"ok\\",\\"input\\":\\"$INPUT\\"}"',
]

describe('scripts saved with Windows line ends (CRLF)', () => {
  const crlf = (shebang: string) => `${[shebang, ...LEGACY_BODY].join('\r\n')}\r\n`
  const advice = (file: string) => `${file} has Windows line ends (CRLF), so its #! line asks for`

  test.each([
    ['#!/bin/bash', 'crlf-direct.sh', '"/bin/bash\\r"'],
    ['#!/usr/bin/env bash', 'crlf-env.sh', '"/usr/bin/env bash\\r"'],
  ])('%s with CRLF: the step says so and how to convert it, not "not found"', async (shebang, name, asked) => {
    const envelope = await run(script(name, crlf(shebang)), { INPUT: 'x' })
    expect(envelope.status).toBe('error')
    const { reason } = envelope as { reason: string }
    expect(reason).toContain(`${advice(name)} ${asked}`)
    expect(reason).toContain(`sed -i 's/\\r$//' ${name}`)
    expect(reason).not.toMatch(/not found|No such file/)
  })

  test('an exec step running such a script gets the same message', async () => {
    const envelope = await run(script('crlf-exec.sh', crlf('#!/bin/bash')), {}, 'exec')
    expect((envelope as { reason: string }).reason).toContain(`${advice('./crlf-exec.sh')} "/bin/bash\\r"`)
  })

  test('a #! line that is fine but CRLF below it: the failure names the CRLF', async () => {
    const body = `#!/usr/bin/env bash\n${LEGACY_BODY.join('\r\n')}\r\n`
    const envelope = await run(script('crlf-body.sh', body), { INPUT: 'x' })
    expect(envelope.status).toBe('error')
    expect((envelope as { reason: string }).reason).toContain(
      'crlf-body.sh has Windows line ends (CRLF): the shell reads a \\r at the end of each line',
    )
  })
})

test('a #! line naming an interpreter this machine lacks is named, not the script as "not found"', async () => {
  const envelope = await run(script('old-python.sh', '#!/usr/bin/python2.4\nprint "hi"\n'))
  expect((envelope as { reason: string }).reason).toBe(
    'could not start old-python.sh: its #! line asks for "/usr/bin/python2.4", which does not exist on this machine',
  )
})

test('a script without a #! line that fails under /bin/sh: the failure says which shell ran it', async () => {
  const envelope = await run(script('no-shebang.sh', '[[ -n "$INPUT" ]] && echo \'{"status":"ok"}\'\n'), { INPUT: 'x' })
  expect(envelope.status).toBe('error')
  expect((envelope as { reason: string }).reason).toContain(
    'no-shebang.sh has no #! line, so /bin/sh ran it: a bash script needs #!/usr/bin/env bash as its first line',
  )
})

test('a failing shell step whose arg names are no shell variable names says bash cannot read them', async () => {
  const body =
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the script's own bash expansion
    '#!/usr/bin/env bash\nset -euo pipefail\necho "{\\"status\\":\\"ok\\",\\"in\\":\\"${INPUT:?missing INPUT}\\"}"\n'
  const envelope = await run(script('reads-input.sh', body), { 'input-file': 'a.csv', '2nd': 'b', INPUT_OK: 'c' })
  expect(envelope.status).toBe('error')
  expect((envelope as { reason: string }).reason).toContain(
    'the args "input-file", "2nd" are not shell variable names (letters, digits and _, not starting with a digit): the script gets them in its environment, but bash cannot read them as $name; rename them (for example input_file)',
  )
})

test('an envelope with bytes that are not UTF-8 fails the step instead of changing the value', async () => {
  const bytes = Buffer.concat([
    Buffer.from('#!/usr/bin/env bash\nprintf \'{"status":"ok","ctx":{"lab.site_v1":"caf'),
    Buffer.from([0x5c, 0x78, 0x65, 0x39]), // \xe9 for printf: latin1 é
    Buffer.from('"}}\\n\'\n'),
  ])
  const input = stepInput({ name: 'legacy', type: 'shell', command: script('latin1.sh', bytes) })
  const { envelope } = await runCommandStep({ ...input, root }, options)
  expect(envelope).toMatchObject({ status: 'error', exit_code: 1 })
  expect((envelope as { reason: string }).reason).toContain('latin1.sh printed bytes that are not UTF-8 on stdout')
  expect(input.stepCtx.get('lab.site_v1')).toBeUndefined()
})

test('an envelope written in pieces, a UTF-8 character split between two writes, is read whole', async () => {
  // printf writes at once; the sleeps make each piece its own read on the pipe.
  const body = `#!/usr/bin/env bash\nprintf '{"status":"ok",'; sleep 0.1; printf '"ctx":{"lab.site_v1":"caf\\xc3'; sleep 0.1; printf '\\xa9"}}\\n'\n`
  const input = stepInput({ name: 'legacy', type: 'shell', command: script('pieces.sh', body) })
  const { envelope } = await runCommandStep({ ...input, root }, options)
  expect(envelope).toMatchObject({ status: 'ok', outputs: ['lab.site_v1'] })
  expect(input.stepCtx.get('lab.site_v1')).toBe('café')
})
