import { parseArgs, type ParseArgsConfig } from 'node:util'
import { didYouMean } from '../recipe/did-you-mean.ts'

/** A mistake on the command line: exit code 3, with a message that says what to type. */
export class UsageError extends Error {
  override name = 'UsageError'
}

type Options = NonNullable<ParseArgsConfig['options']>

/** `parseArgs` with did-you-mean for unknown flags and messages in our words. */
export function parseCommandArgs<T extends Options>(
  args: string[],
  options: T,
  command: string,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message)?.[1]
    if (unknown) {
      const flags = Object.keys(options).map((name) => `--${name}`)
      const suggestion = didYouMean(unknown, flags)
      throw new UsageError(
        `unknown option ${unknown} for "recipes ${command}"${suggestion ? `; did you mean ${suggestion}?` : ''} (see recipes ${command} --help)`,
      )
    }
    throw new UsageError(
      `${message.replace(/\. To specify a positional argument.*$/s, '')} (see recipes ${command} --help)`,
    )
  }
}

/** `--skip a,b --skip c` → ['a', 'b', 'c']. */
export function splitList(values: string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((value) => value.split(','))
    .map((name) => name.trim())
    .filter(Boolean)
}
