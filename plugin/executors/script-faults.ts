import { closeSync, existsSync, openSync, readSync } from 'node:fs'

/** How much of a script is read to explain why it failed: the #! line and the lines near it. */
const READ_BYTES = 64 * 1024

export interface ScriptFault {
  /** What is wrong with the file and what to do about it. */
  reason: string
  /** True when the fault is the whole story (the program never started); false when it adds to the failure. */
  replaces: boolean
}

/**
 * Why a script file failed, read from its own bytes, for a step whose program did not start
 * or exited without an envelope: a file saved with Windows line ends (its #! line then asks
 * for "/bin/bash\r", and the kernel or env answers "No such file or directory"; below the #!
 * line the shell reads a \r at the end of every command), a #! line naming an interpreter
 * this machine does not have, or no #! line at all (then /bin/sh runs it, not bash).
 * Undefined when the file shows none of these. Read only after a failure: a step that works
 * pays nothing for it.
 */
export function describeScriptFault(path: string, shown: string, startFailed: boolean): ScriptFault | undefined {
  const text = readHead(path)
  if (text === undefined) return undefined
  const newline = text.indexOf('\n')
  const firstLine = newline === -1 ? text : text.slice(0, newline)
  const convert = `convert it to Unix line ends (sed -i 's/\\r$//' ${shown}, or dos2unix ${shown}) and run it again`
  if (firstLine.startsWith('#!') && firstLine.endsWith('\r')) {
    const asked = firstLine.slice(2).trimStart()
    return {
      reason: `${shown} has Windows line ends (CRLF), so its #! line asks for ${JSON.stringify(asked)}, which does not exist: ${convert}`,
      replaces: true,
    }
  }
  if (text.includes('\r\n')) {
    return {
      reason: `${shown} has Windows line ends (CRLF): the shell reads a \\r at the end of each line; ${convert}`,
      replaces: false,
    }
  }
  // A text file without #! is run by /bin/sh (the C library's execvp fallback): dash on Debian, not bash.
  if (!firstLine.startsWith('#!') && !text.includes('\0')) {
    return {
      reason: `${shown} has no #! line, so /bin/sh ran it: a bash script needs #!/usr/bin/env bash as its first line`,
      replaces: false,
    }
  }
  if (startFailed && firstLine.startsWith('#!')) {
    const interpreter = firstLine.slice(2).trim().split(/[ \t]/)[0] ?? ''
    if (interpreter !== '' && !existsSync(interpreter))
      return {
        reason: `could not start ${shown}: its #! line asks for ${JSON.stringify(interpreter)}, which does not exist on this machine`,
        replaces: true,
      }
  }
  return undefined
}

function readHead(path: string): string | undefined {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const buffer = Buffer.alloc(READ_BYTES)
    const bytes = readSync(fd, buffer, 0, READ_BYTES, 0)
    return buffer.subarray(0, bytes).toString('latin1')
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
