import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { fileStatuses, readStepRows, type StepRow, stepFailure, stepRow } from './run-outcome.ts'
import { createProject, type JsonReport, type RunResult, type TestProject } from './project.ts'

// Shell scriptlets of the older framework, written exactly as its guides show them (the
// contributor template sanitize_csv.sh, the user guide's count-lines.sh and sample.sh, in
// its orchestrator/ layout), run unchanged by recipes in its dialect; then the ways such
// scripts go wrong in a lab: a Windows editor, latin1 bytes, awkward argument values, a
// script that ignores SIGTERM. One `vitest run` for all of it.

// orchestrator/scriptlets/shell/sanitize_csv.sh, the guidelines' "Shell Scriptlet Template".
const SANITIZE = `#!/usr/bin/env bash
# NAME: sanitize_csv.sh
# DESC: Sanitize CSV into orchestrator/Data/sanitized.csv
# USAGE: ./orchestrator/scriptlets/shell/sanitize_csv.sh INPUT=orchestrator/Data/clean.csv OUTPUT=orchestrator/Data/sanitized.csv
set -euo pipefail

INPUT="\${INPUT:?missing INPUT}"
OUTPUT="\${OUTPUT:?missing OUTPUT}"
mkdir -p "$(dirname "$OUTPUT")"
awk -F, 'NR==1 || $0 !~ /forbidden/' "$INPUT" > "$OUTPUT"
printf '{"status":"ok","output":"%s"}\\n' "$OUTPUT"
`

// The user guide's "Adding a New Shell Scriptlet": an error envelope and exit 1 for a missing file.
const COUNT_LINES = `#!/usr/bin/env bash
# NAME: count-lines.sh
# DESC: Count lines in a text file and emit JSON.
# USAGE: INPUT=orchestrator/Data/file.txt orchestrator/scriptlets/shell/count-lines.sh
# RETURNS: {"status":"ok","lines":<int>}
set -euo pipefail
INPUT="\${INPUT:?missing INPUT}"
if [[ ! -f "$INPUT" ]]; then
  echo "{\\"status\\":\\"error\\",\\"reason\\":\\"missing file\\"}" ; exit 1
fi
LINES=$(wc -l < "$INPUT" | tr -d ' ')
echo "{\\"status\\":\\"ok\\",\\"lines\\":$LINES}"
`

// The skeleton's sample.sh: ECHO_TEXT=Hi orchestrator/scriptlets/shell/sample.sh → {"status":"ok","echo":"Hi"}
const SAMPLE = `#!/usr/bin/env bash
# NAME: sample.sh
# DESC: Demo shell JSON emitter.
# USAGE: ECHO_TEXT=Hi orchestrator/scriptlets/shell/sample.sh
set -euo pipefail
echo "{\\"status\\":\\"ok\\",\\"echo\\":\\"\${ECHO_TEXT:-}\\"}"
`

// The guidelines' recipe snippet (idx, cmd, args as environment variables, files_exist).
const LEGACY = `test_meta:
  test_id: "T-001"
  tester: "Alice"
  description: "Example pipeline"
steps:
  - idx: 1
    name: preprocess_csv
    type: shell
    cmd: orchestrator/scriptlets/shell/sanitize_csv.sh
    args:
      INPUT: "orchestrator/Data/raw.csv"
      OUTPUT: "orchestrator/Data/clean.csv"
    success:
      files_exist:
        - "orchestrator/Data/clean.csv"
  - idx: 2
    name: count_lines
    type: shell
    cmd: orchestrator/scriptlets/shell/count-lines.sh
    args:
      INPUT: "orchestrator/Data/clean.csv"
    depends_on: [preprocess_csv]
    save: { numbers.clean_lines_v1: lines }
  - idx: 3
    name: sample_shell
    type: shell
    cmd: orchestrator/scriptlets/shell/sample.sh
    args:
      ECHO_TEXT: "World"
    save: { sample.echo_v1: echo }
`

const LEGACY_ERROR = `steps:
  - idx: 1
    name: count_missing
    type: shell
    cmd: orchestrator/scriptlets/shell/count-lines.sh
    args:
      INPUT: "orchestrator/Data/nope.txt"
`

const AWKWARD_VALUE = 'two words, "double" and \'single\' quotes\nline two: a=b=c é € 😀 $HOME `id` \\n'

const EDGES = `steps:
  - { idx: 1, name: windows_edited, type: shell, cmd: scripts/windows_edited.sh, args: { INPUT: x } }
  - { idx: 2, name: latin1_envelope, type: shell, cmd: scripts/latin1.sh, depends_on: [] }
  - idx: 3
    name: awkward_values
    type: shell
    cmd: scripts/write_value.sh
    args: { VALUE: ${JSON.stringify(AWKWARD_VALUE)}, OUT: orchestrator/Data/value.out }
    depends_on: []
  - { idx: 4, name: ignores_sigterm, type: shell, cmd: scripts/ignores_sigterm.sh, timeout: 1, depends_on: [] }
`

let project: TestProject
let report: JsonReport
let rows: Map<string, StepRow>
let validated: { legacy: RunResult; edges: RunResult }

beforeAll(async () => {
  project = createProject({
    'recipes/legacy.yaml': LEGACY,
    'recipes/legacy_error.yaml': LEGACY_ERROR,
    'recipes/edges.yaml': EDGES,
    'orchestrator/scriptlets/shell/sanitize_csv.sh': SANITIZE,
    'orchestrator/scriptlets/shell/count-lines.sh': COUNT_LINES,
    'orchestrator/scriptlets/shell/sample.sh': SAMPLE,
    'orchestrator/Data/raw.csv': 'id,value\n1,10\n2,forbidden\n3,30\n',
    // Saved by a Windows editor: every line ends in CRLF, the #! line too.
    'scripts/windows_edited.sh': `${SANITIZE.split('\n').join('\r\n')}`,
    'scripts/write_value.sh': `#!/usr/bin/env bash\nset -euo pipefail\nprintf '%s' "$VALUE" > "$OUT"\necho '{"status":"ok"}'\n`,
    'scripts/ignores_sigterm.sh': `#!/usr/bin/env bash\ntrap 'echo "ignoring TERM" >&2' TERM\nwhile true; do sleep 0.1; done\n`,
  })
  // A latin1 é inside the envelope, as a script reading an old device's output prints it.
  writeFileSync(
    join(project.root, 'scripts/latin1.sh'),
    Buffer.concat([
      Buffer.from('#!/usr/bin/env bash\necho \'{"status":"ok","ctx":{"lab.site_v1":"caf'),
      Buffer.from([0xe9]),
      Buffer.from('"}}\'\n'),
    ]),
  )
  for (const file of [
    'orchestrator/scriptlets/shell/sanitize_csv.sh',
    'orchestrator/scriptlets/shell/count-lines.sh',
    'orchestrator/scriptlets/shell/sample.sh',
    'scripts/windows_edited.sh',
    'scripts/latin1.sh',
    'scripts/write_value.sh',
    'scripts/ignores_sigterm.sh',
  ])
    chmodSync(join(project.root, file), 0o755)
  const [run, legacyChecks, edgeChecks] = await Promise.all([
    project.vitestJson(['recipes/']),
    project.recipes(['validate', 'recipes/legacy.yaml']),
    project.recipes(['validate', 'recipes/edges.yaml']),
  ])
  validated = { legacy: legacyChecks, edges: edgeChecks }
  report = run.report
  rows = readStepRows(project.root)
}, 60_000)
afterAll(() => project?.remove())

const statuses = (file: string) => fileStatuses(report, file)
const failure = (file: string, step: string) => stepFailure(report, file, step)
const row = (step: string) => stepRow(rows, step)

describe('the older framework shell scriptlets, unchanged', () => {
  test('the template, count-lines.sh and sample.sh pass with args as environment variables', () => {
    expect(statuses('legacy.yaml')).toEqual({ preprocess_csv: 'passed', count_lines: 'passed', sample_shell: 'passed' })
    expect(project.read('orchestrator/Data/clean.csv')).toBe('id,value\n1,10\n3,30\n')
  })

  test('recipes validate finds nothing wrong with them', () => {
    expect(validated.legacy.code, validated.legacy.output).toBe(0)
  })

  test('their error envelope and exit 1 fail the step with their reason', () => {
    expect(statuses('legacy_error.yaml')).toEqual({ count_missing: 'failed' })
    expect(row('count_missing')).toMatchObject({ status: 'failed', exit_code: 1, reason: 'missing file' })
  })
})

describe('what goes wrong in a lab', () => {
  test('a script saved with Windows line ends fails saying so and how to convert it', () => {
    expect(statuses('edges.yaml').windows_edited).toBe('failed')
    const reason = row('windows_edited').reason!
    expect(reason).toBe(
      `scripts/windows_edited.sh has Windows line ends (CRLF), so its #! line asks for "/usr/bin/env bash\\r", which does not exist: convert it to Unix line ends (sed -i 's/\\r$//' scripts/windows_edited.sh, or dos2unix scripts/windows_edited.sh) and run it again`,
    )
    expect(failure('edges.yaml', 'windows_edited')).toContain('has Windows line ends (CRLF)')
    expect(validated.edges.code).toBe(3)
    expect(validated.edges.stderr).toContain(
      'scripts/windows_edited.sh:1:1 RECIPE_SCHEMA: shell scriptlet has Windows line ends (CRLF): its #! line asks for an interpreter name ending in \\r, and bash reads a \\r at the end of each line\n',
    )
    expect(validated.edges.stderr).toContain(
      "Convert it to Unix line ends: sed -i 's/\\r$//' scripts/windows_edited.sh (or dos2unix scripts/windows_edited.sh).",
    )
  })

  test('an envelope with a latin1 byte fails instead of writing a changed value', () => {
    expect(statuses('edges.yaml').latin1_envelope).toBe('failed')
    expect(row('latin1_envelope').reason).toMatch(/^scripts\/latin1\.sh printed bytes that are not UTF-8 on stdout/)
  })

  test('spaces, quotes, newlines, unicode, = and shell syntax in a value reach the script as they are', () => {
    expect(statuses('edges.yaml').awkward_values).toBe('passed')
    expect(readFileSync(join(project.root, 'orchestrator/Data/value.out'), 'utf8')).toBe(AWKWARD_VALUE)
  })

  test('a script that ignores SIGTERM at its timeout is killed and reported as timed out', () => {
    expect(statuses('edges.yaml').ignores_sigterm).toBe('failed')
    expect(row('ignores_sigterm').reason).toContain('timed out after 1 s')
    expect(row('ignores_sigterm').duration_ms).toBeLessThan(5000)
  })
})
