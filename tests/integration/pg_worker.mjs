// The worker behind pgsync.mjs: one node-postgres client per database URL, kept open; each
// query's answer is posted back, then the waiting main thread is woken.
import { workerData } from 'node:worker_threads';
import pg from 'pg';

const { flag, port } = workerData;
const clients = new Map();

port.on('message', async ({ url, sql }) => {
  let reply;
  try {
    let c = clients.get(url);
    if (!c) {
      c = new pg.Client({ connectionString: url });
      c.on('error', () => clients.delete(url)); /* e.g. its database was dropped */
      await c.connect();
      clients.set(url, c);
    }
    const r = await c.query(sql);
    reply = { rows: r.rows };
  } catch (e) {
    reply = { error: String(e.message || e) };
  }
  port.postMessage(reply);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});

/* a database about to be dropped: close its client first */
port.on('close', () => { for (const c of clients.values()) c.end().catch(() => {}); });
