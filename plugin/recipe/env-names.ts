/**
 * The names a step's parameters may not take when they become environment variables (the
 * mapping args of shell, exec and python `script:` steps): those that change how an
 * interpreter, the dynamic linker or a common tool starts, or where it finds programs,
 * modules and configuration. Given by a recipe, they would run code from anywhere (BASH_ENV
 * names a file bash runs first; NODE_OPTIONS=--require another). One rule, used when a recipe
 * compiles (parse.ts) and when a script runs on its own (executors/command.ts).
 *
 * Names are matched in any letter case: environment names are case-sensitive on Linux, so
 * `Path` is not `PATH`, but a recipe that gives it is a mistake or an attack.
 */

interface RefusedGroup {
  /** Refused names, upper case. */
  names?: readonly string[]
  /** Refused name prefixes, upper case. */
  prefixes?: readonly string[]
  /** What the variable does, said after "…environment variable X: ". */
  why: string
}

/** The refused names, by what they do (docs/security.md lists them; a test keeps it so). */
export const REFUSED_ENV_GROUPS: readonly RefusedGroup[] = [
  { names: ['BASH_ENV'], why: 'bash runs the file it names before the script' },
  { names: ['ENV'], why: 'sh (dash, bash as sh) runs the file it names when it starts' },
  { names: ['SHELLOPTS', 'BASHOPTS'], why: 'it turns shell options on before the script runs' },
  {
    names: ['PS1', 'PS2', 'PS3', 'PS4', 'PROMPT_COMMAND'],
    why: 'the shell expands it, running any $(command) in it (PS4 on every traced line)',
  },
  { names: ['IFS'], why: "it changes how the shell splits words, so the script's commands change" },
  { names: ['CDPATH'], why: 'cd then finds folders elsewhere than the script expects' },
  { names: ['GLOBIGNORE', 'EXECIGNORE'], why: 'it changes which files globs and command lookup find' },
  { prefixes: ['BASH_FUNC_'], why: 'bash imports it as a function that replaces a command of the script' },
  {
    names: ['BASH_XTRACEFD', 'BASH_LOADABLES_PATH', 'BASH_COMPAT', 'FPATH', 'ZDOTDIR'],
    why: 'it changes how the shell starts or where it loads code from',
  },
  { names: ['PATH'], why: 'it decides which program every command name runs' },
  { prefixes: ['LD_'], why: 'the dynamic linker loads (or audits with) the libraries it names in every program' },
  { prefixes: ['DYLD_'], why: "macOS's dynamic linker loads the libraries it names in every program" },
  {
    names: [
      'GCONV_PATH',
      'GETCONF_DIR',
      'GLIBC_TUNABLES',
      'HOSTALIASES',
      'LOCALDOMAIN',
      'LOCPATH',
      'NIS_PATH',
      'NLSPATH',
      'RESOLV_HOST_CONF',
      'RES_OPTIONS',
      'TZDIR',
    ],
    prefixes: ['MALLOC_'],
    why: 'the C library loads modules, locale data or host names from where it says (glibc drops it for set-user-ID programs)',
  },
  { names: ['NODE_OPTIONS'], why: 'node takes command-line options from it (--require and --import run any file)' },
  {
    names: ['NODE_PATH', 'NODE_REPL_EXTERNAL_MODULE', 'NODE_ICU_DATA'],
    why: 'node loads modules or data from where it says',
  },
  { prefixes: ['NPM_CONFIG_'], why: 'npm takes its configuration from it (script-shell, node-options, …)' },
  {
    prefixes: ['PYTHON'],
    why: 'python reads it when it starts (PYTHONSTARTUP, PYTHONPATH, PYTHONHOME, PYTHONINSPECT, PYTHONWARNINGS load code or change where modules come from)',
  },
  {
    names: ['PERL5OPT', 'PERL5LIB', 'PERLLIB', 'PERL5DB', 'PERLIO', 'PERL5SHELL'],
    why: 'perl takes options, modules or layers from it when it starts',
  },
  {
    names: ['RUBYOPT', 'RUBYLIB', 'RUBYPATH', 'RUBYSHELL', 'GEM_HOME', 'GEM_PATH', 'BUNDLE_GEMFILE'],
    why: 'ruby takes options, libraries or gems from it when it starts',
  },
  {
    names: ['JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH'],
    why: 'the Java VM takes options (-javaagent runs code) or classes from it',
  },
  {
    names: ['AWKPATH', 'AWKLIBPATH', 'TCLLIBPATH'],
    prefixes: ['LUA_INIT', 'LUA_PATH', 'LUA_CPATH'],
    why: 'the interpreter runs code or loads scripts and extensions from where it says',
  },
  {
    names: [
      'GIT_DIR',
      'GIT_EXEC_PATH',
      'GIT_TEMPLATE_DIR',
      'GIT_SSH',
      'GIT_SSH_COMMAND',
      'GIT_ASKPASS',
      'GIT_EDITOR',
      'GIT_SEQUENCE_EDITOR',
      'GIT_PAGER',
      'GIT_EXTERNAL_DIFF',
      'GIT_PROXY_COMMAND',
    ],
    prefixes: ['GIT_CONFIG'],
    why: 'git runs the command it names, or reads configuration (which runs commands) from it',
  },
  { prefixes: ['OPENSSL_'], why: 'OpenSSL loads configuration and engine or provider libraries from it' },
  {
    names: ['HOME', 'XDG_CONFIG_HOME'],
    why: "programs read their start-up configuration from it (git's config, python's user site, .npmrc)",
  },
  {
    names: ['SHELL', 'EDITOR', 'VISUAL', 'PAGER', 'LESSOPEN', 'LESSCLOSE', 'SSH_ASKPASS', 'SUDO_ASKPASS', 'BROWSER'],
    why: 'programs run the command it names',
  },
]

/** Why a name cannot be a step's environment variable. */
export interface EnvNameRefusal {
  /** The refused name it matched (upper case): `LD_PRELOAD` for `Ld_Preload`. */
  variable: string
  why: string
}

/** Why `name` may not become an environment variable of a step's program, or undefined when it may. */
export function checkEnvName(name: string): EnvNameRefusal | undefined {
  // "A=B" reaches the program as the variable A; an empty name or a NUL byte is no variable at all.
  if (name === '' || name.includes('=') || name.includes('\0'))
    return {
      variable: name,
      why: 'an environment variable name cannot be empty or hold "=" or a NUL byte (the program would see another variable)',
    }
  const upper = name.toUpperCase()
  for (const group of REFUSED_ENV_GROUPS) {
    const prefix = group.prefixes?.find((start) => upper.startsWith(start))
    if (group.names?.includes(upper) || prefix !== undefined) return { variable: upper, why: group.why }
  }
  return undefined
}

/**
 * The refusal said about a parameter: `"BASH_ENV", which would become the step's environment
 * variable BASH_ENV: bash runs …` (a case variant says which name it stands for).
 */
export function describeEnvNameRefusal(name: string, refusal: EnvNameRefusal): string {
  const variant = refusal.variable !== name ? ` a case variant of ${refusal.variable},` : ''
  return `"${name}",${variant} which would become the step's environment variable ${JSON.stringify(name).slice(1, -1)}: ${refusal.why}`
}

/** What to do instead, for a hint. */
export function envNameAdvice(name: string): string {
  const renamed = `STEP_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`
  return `Give the parameter another name (for example ${renamed}) and let the script read that; to change the runner's own environment deliberately, set the variable where you start vitest (every step inherits it). The refused names are listed in the vitest-recipes documentation, docs/security.md.`
}
