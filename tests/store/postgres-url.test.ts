import { expect, test } from 'vitest'
import { locateStore } from '../../plugin/store/kept-store.ts'
import { isPostgresUrl, postgresHostOf, shownPostgresUrl } from '../../plugin/store/postgres/url.ts'

test('a postgres:// or postgresql:// setting is a PostgreSQL store; anything else is an SQLite file', async () => {
  expect(isPostgresUrl('postgres://lab@db/recipes')).toBe(true)
  expect(isPostgresUrl('POSTGRESQL://lab@db/recipes')).toBe(true)
  expect(isPostgresUrl('reports/results.sqlite')).toBe(false)
  expect(isPostgresUrl('postgres.sqlite')).toBe(false)
})

test('messages show user, host, port and database, never a password (in the URL or its parameters)', async () => {
  expect(shownPostgresUrl('postgres://lab:s3cret@db.lab.internal:5433/recipes')).toBe(
    'postgres://lab@db.lab.internal:5433/recipes',
  )
  expect(shownPostgresUrl('postgresql://lab@db/recipes?password=s3cret&sslmode=require')).toBe(
    'postgres://lab@db/recipes',
  )
  expect(shownPostgresUrl('postgres://:s3cret@/recipes')).not.toContain('s3cret')
  expect(shownPostgresUrl('postgres://lab:s3cret@[bad')).not.toContain('s3cret')
  expect(postgresHostOf('postgres://lab:s3cret@db.lab.internal/recipes')).toBe('db.lab.internal:5432')
})

test('a PostgreSQL store keeps its journals in the project, under .recipes/postgres/, named without the password', async () => {
  const saved = process.env.RECIPES_DB
  process.env.RECIPES_DB = 'postgres://lab:s3cret@db.lab.internal:5433/recipes'
  try {
    const located = locateStore('/work/lab', 'reports/results.sqlite')
    expect(located).toEqual({
      path: '/work/lab/.recipes/postgres/lab_db.lab.internal_5433_recipes',
      shown: 'postgres://lab@db.lab.internal:5433/recipes',
      url: 'postgres://lab:s3cret@db.lab.internal:5433/recipes',
    })
  } finally {
    if (saved === undefined) delete process.env.RECIPES_DB
    else process.env.RECIPES_DB = saved
  }
})
