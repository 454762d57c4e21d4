/** Where the CLI writes and which directory it works from; tests pass their own. */
export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  cwd: string
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
}

/**
 * `io` with every secret value masked in what it writes (`createRedactor(...).text`): a var's value, a
 * matrix combination's values may be a secret's, and commands print them (plan, list, validate, history).
 */
export function maskedIo(io: CliIo, mask: (text: string) => string): CliIo {
  return { stdout: (text) => io.stdout(mask(text)), stderr: (text) => io.stderr(mask(text)), cwd: io.cwd }
}
