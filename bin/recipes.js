#!/usr/bin/env node
// Thin shim: all behaviour lives in the testable cli(argv) of dist/cli.
import { cli } from '../dist/cli/index.js'

// stdout is reserved for machine output (one JSON line for `recipes step`): route
// console.log/info/debug of loaded scriptlets to stderr.
console.log = console.info = console.debug = console.error

// `recipes list | head` closes the pipe early: that is not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw error
})

process.exitCode = await cli(process.argv.slice(2))
