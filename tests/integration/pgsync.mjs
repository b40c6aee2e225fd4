// Synchronous PostgreSQL queries for the tests (env.sql() is synchronous, as sqlite3 is):
// node-postgres runs in a worker thread with one open connection per database, and the
// caller waits on a shared flag — about 100 times faster than one psql process per query.
import { Worker, MessageChannel, receiveMessageOnPort } from 'node:worker_threads';

let worker;
let port;
let flag;

function start() {
  flag = new Int32Array(new SharedArrayBuffer(4));
  const ch = new MessageChannel();
  port = ch.port1;
  worker = new Worker(new URL('./pg_worker.mjs', import.meta.url), {
    workerData: { flag, port: ch.port2 }, transferList: [ch.port2],
  });
  worker.unref();
  port.unref();
}

/** Runs sql on the database of url; returns its rows (objects). Throws on an error. */
export function pgQuery(url, sql, { timeoutMs = 30000 } = {}) {
  if (!worker) start();
  Atomics.store(flag, 0, 0);
  port.postMessage({ url, sql });
  if (Atomics.wait(flag, 0, 0, timeoutMs) === 'timed-out') throw new Error(`PostgreSQL query timed out: ${sql}`);
  const m = receiveMessageOnPort(port);
  if (!m) throw new Error(`no answer from the PostgreSQL worker: ${sql}`);
  if (m.message.error) throw new Error(`${m.message.error}\n${sql}`);
  return m.message.rows;
}
