/** Whether a store setting (RECIPES_DB, the option `db`) names a PostgreSQL database rather than an SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db)
}

/**
 * The URL as messages show it: user, host, port and database, never the password (in the
 * URL or in a `password=` parameter). A URL that does not parse is shown by its scheme only.
 */
export function shownPostgresUrl(db: string): string {
  let url: URL
  try {
    url = new URL(db)
  } catch {
    return `${db.split('://')[0]}://…`
  }
  const user = url.username ? `${decodeURIComponent(url.username)}@` : ''
  const port = url.port ? `:${url.port}` : ''
  return `postgres://${user}${url.hostname || 'localhost'}${port}${url.pathname === '/' ? '' : url.pathname}`
}

/** Where the host named by a URL is, for messages: `db.lab.internal:5432`. */
export function postgresHostOf(db: string): string {
  try {
    const url = new URL(db)
    return `${url.hostname || 'localhost'}:${url.port || process.env.PGPORT || '5432'}`
  } catch {
    return 'the host in the URL'
  }
}

/** A folder name for this database's local files (journals, live endpoints): host, port and database. */
export function postgresSlug(db: string): string {
  const shown = shownPostgresUrl(db).replace(/^postgres:\/\//, '')
  return shown.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '') || 'postgres'
}
