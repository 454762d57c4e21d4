/** `vitest-recipes/scriptlet`: what scriptlet authors import. */
export { BaseScriptlet, defineScriptlet, ParamsError, ScriptletError } from './define.ts'
export type { Scriptlet, ScriptletDefinition, ScriptletTools } from './define.ts'
export { normalizeEnvelope, EXIT_DEPENDENCY, EXIT_FAILED, EXIT_INVALID, EXIT_OK } from './envelope.ts'
export type { Envelope, EnvelopeInput, ErrorEnvelope, OkEnvelope } from './envelope.ts'
export { Context, ContextWriteError, DependencyError } from '../context/context.ts'
export type { ContextOptions, ContextWrite, KeyNamingMode, ScriptletContext } from '../context/context.ts'
export type { JsonObject, JsonValue } from '../context/json-value.ts'
