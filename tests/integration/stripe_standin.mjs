// A local stand-in for the few Stripe endpoints Tollgate's `stripe` payment provider calls,
// strict about what it receives, plus signed webhooks. Used in-process by
// payments.test.mjs; also runs alone: `node stripe_standin.mjs [port]`.
//
//   POST /v1/customers                    form: name, email?, address[...]?, metadata[...]
//   POST /v1/payment_methods/{pm}/attach  form: customer; pm is one of Stripe's test
//                                         shortcuts (pm_card_visa, pm_card_chargeDeclined, …);
//                                         answers a new pm_… with card {brand,last4,exp_*}
//   POST /v1/payment_intents              form: amount (integer ≥ 50), currency=usd, customer,
//                                         payment_method (attached to that customer),
//                                         confirm=true, off_session=true,
//                                         metadata[tollgate_payment_id]
//
// Every request must carry `Authorization: Bearer <secret key>`, a form-encoded body and an
// `Idempotency-Key`; a repeated key with the same body replays the first answer (nothing is
// charged twice), with another body it is refused (400 idempotency_error). Anything wrong is
// answered as Stripe would and also recorded in `violations`, which tests assert is empty.
//
// Test hooks: `dropNextIntentResponses = n` processes the next n PaymentIntent requests and
// then closes the connection without answering (a lost response: the client must retry with
// the same key); pm_card_processing makes PaymentIntents that stay `processing` until
// `complete(piId)` (which sends the signed `payment_intent.succeeded` webhook);
// `sendWebhook(event, {secret, timestamp})` signs and posts any event.

import crypto from 'node:crypto';
import http from 'node:http';

const CARDS = {
  pm_card_visa: { brand: 'visa', last4: '4242' },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444' },
  pm_card_chargeDeclined: { brand: 'visa', last4: '0002', decline: 'generic_decline' },
  pm_card_chargeDeclinedInsufficientFunds: { brand: 'visa', last4: '9995', decline: 'insufficient_funds' },
  pm_card_processing: { brand: 'visa', last4: '3220', processing: true },
};

const rid = (prefix) => `${prefix}_${crypto.randomBytes(12).toString('hex')}`;

export class StripeStandin {
  constructor({ secretKey = 'sk_test_standin_0123456789', webhookSecret = 'whsec_standin_0123456789' } = {}) {
    this.secretKey = secretKey;
    this.webhookSecret = webhookSecret;
    this.webhookURL = null; // Tollgate's webhook endpoint, set by the test
    this.customers = new Map();
    this.methods = new Map(); // attached pm_… → {card, customer, shortcut}
    this.intents = new Map();
    this.idempotency = new Map(); // key → {path, body, status, json}
    this.charges = []; // succeeded charges: {id, amount, customer, payment_id}
    this.requests = []; // {method, path, idempotencyKey, form}
    this.violations = [];
    this.dropNextIntentResponses = 0;
  }

  async start(port = 0) {
    this.server = http.createServer((req, res) => this._handle(req, res));
    await new Promise((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    this.origin = `http://127.0.0.1:${this.port}`;
    return this;
  }

  async stop() {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
    this.server = null;
  }

  chargesFor(paymentId) {
    return this.charges.filter((c) => c.payment_id === paymentId);
  }

  _violation(what) {
    this.violations.push(what);
  }

  async _handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString('utf8');
    const send = (status, json) => {
      const text = JSON.stringify(json);
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': rid('req') });
      res.end(text);
    };
    const err = (status, type, message, extra = {}) => send(status, { error: { type, message, ...extra } });

    if (req.headers.authorization !== `Bearer ${this.secretKey}`) {
      this._violation(`${req.method} ${req.url}: wrong or missing secret key`);
      return err(401, 'invalid_request_error', 'Invalid API Key provided.');
    }
    if (req.method !== 'POST') return err(404, 'invalid_request_error', `Unrecognized request URL (${req.method}: ${req.url}).`);
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      this._violation(`${req.url}: body is not form-encoded (${req.headers['content-type']})`);
      return err(400, 'invalid_request_error', 'Expected a form-encoded body.');
    }
    const key = req.headers['idempotency-key'];
    const form = Object.fromEntries(new URLSearchParams(raw));
    this.requests.push({ method: req.method, path: req.url, idempotencyKey: key, form, version: req.headers['stripe-version'] });
    if (!key) {
      this._violation(`POST ${req.url} without an Idempotency-Key`);
      return err(400, 'invalid_request_error', 'Every POST must carry an Idempotency-Key here.');
    }
    const seen = this.idempotency.get(key);
    if (seen) {
      if (seen.path !== req.url || seen.body !== raw) {
        this._violation(`Idempotency-Key ${key} reused with different parameters`);
        return err(400, 'idempotency_error', 'Keys for idempotent requests can only be used with the same parameters they were first used with.');
      }
      res.setHeader('idempotent-replayed', 'true');
      return send(seen.status, seen.json);
    }
    let status;
    let json;
    try {
      [status, json] = this._route(req.url, form);
    } catch (e) {
      [status, json] = [500, { error: { type: 'api_error', message: String(e) } }];
    }
    if (status < 500) this.idempotency.set(key, { path: req.url, body: raw, status, json });
    if (req.url === '/v1/payment_intents' && this.dropNextIntentResponses > 0) {
      this.dropNextIntentResponses--;
      req.socket.destroy(); // processed, but the answer is lost
      return;
    }
    send(status, json);
  }

  _route(path, f) {
    const bad = (message, param) => [400, { error: { type: 'invalid_request_error', message, param } }];
    if (path === '/v1/customers') {
      if (!f.name) this._violation('customer without a name');
      if (f['address[country]'] && !/^[A-Z]{2}$/.test(f['address[country]'])) return bad('Invalid country', 'address[country]');
      for (const k of Object.keys(f)) {
        if (/number|cvc|card/i.test(k)) this._violation(`customer carries card data (${k})`);
      }
      const c = { id: rid('cus'), object: 'customer', name: f.name ?? null, email: f.email ?? null, address: { line1: f['address[line1]'] ?? null, city: f['address[city]'] ?? null, postal_code: f['address[postal_code]'] ?? null, country: f['address[country]'] ?? null }, metadata: {} };
      for (const [k, v] of Object.entries(f)) {
        const m = /^metadata\[(.+)\]$/.exec(k);
        if (m) c.metadata[m[1]] = v;
      }
      this.customers.set(c.id, c);
      return [200, c];
    }
    let m = /^\/v1\/payment_methods\/([A-Za-z0-9_]+)\/attach$/.exec(path);
    if (m) {
      const card = CARDS[m[1]];
      if (!card) return [404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such PaymentMethod: '${m[1]}'`, param: 'payment_method' } }];
      if (!this.customers.has(f.customer)) return [404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such customer: '${f.customer}'`, param: 'customer' } }];
      const pm = { id: rid('pm'), object: 'payment_method', type: 'card', customer: f.customer, card: { brand: card.brand, last4: card.last4, exp_month: 12, exp_year: new Date().getUTCFullYear() + 3, funding: 'credit' } };
      this.methods.set(pm.id, { ...pm, shortcut: m[1] });
      return [200, pm];
    }
    if (path === '/v1/payment_intents') {
      const amount = Number(f.amount);
      if (!/^\d+$/.test(f.amount ?? '') || amount < 50) return bad('amount must be an integer number of cents ≥ 50', 'amount');
      if (f.currency !== 'usd') return bad('currency must be usd', 'currency');
      if (f.confirm !== 'true' || f.off_session !== 'true') this._violation(`payment intent without confirm/off_session: ${JSON.stringify(f)}`);
      if (!f['metadata[tollgate_payment_id]']) this._violation('payment intent without metadata[tollgate_payment_id]');
      const pm = this.methods.get(f.payment_method);
      if (!pm) return [404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such PaymentMethod: '${f.payment_method}'`, param: 'payment_method' } }];
      if (pm.customer !== f.customer) return bad('The payment method is not attached to this customer.', 'customer');
      const pi = { id: rid('pi'), object: 'payment_intent', amount, currency: 'usd', customer: f.customer, payment_method: pm.id, status: 'succeeded', metadata: { tollgate_payment_id: f['metadata[tollgate_payment_id]'], tollgate_organization_id: f['metadata[tollgate_organization_id]'] } };
      const card = CARDS[pm.shortcut];
      if (card.decline) {
        pi.status = 'requires_payment_method';
        pi.last_payment_error = { type: 'card_error', code: 'card_declined', decline_code: card.decline, message: card.decline === 'insufficient_funds' ? 'Your card has insufficient funds.' : 'Your card was declined.' };
        this.intents.set(pi.id, pi);
        return [402, { error: { ...pi.last_payment_error, payment_intent: { id: pi.id, status: pi.status } } }];
      }
      if (card.processing) {
        pi.status = 'processing';
        this.intents.set(pi.id, pi);
        return [200, pi];
      }
      this.intents.set(pi.id, pi);
      this.charges.push({ id: pi.id, amount, customer: f.customer, payment_id: pi.metadata.tollgate_payment_id });
      return [200, pi];
    }
    return [404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (POST: ${path}).` } }];
  }

  /** Signs `payload` (a string) as Stripe does: t=<unix>,v1=HMAC-SHA256(secret, "t.payload"). */
  sign(payload, { secret = this.webhookSecret, timestamp = Math.floor(Date.now() / 1000) } = {}) {
    const v1 = crypto.createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex');
    return `t=${timestamp},v1=${v1}`;
  }

  event(type, pi) {
    return { id: rid('evt'), object: 'event', api_version: '2024-06-20', created: Math.floor(Date.now() / 1000), type, data: { object: pi } };
  }

  /** POSTs an event to Tollgate's webhook endpoint; returns {status, text, json}. */
  async sendWebhook(event, { secret, timestamp, signature } = {}) {
    if (!this.webhookURL) throw new Error('webhookURL is not set');
    const payload = JSON.stringify(event);
    const r = await fetch(this.webhookURL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature ?? this.sign(payload, { secret, timestamp }) },
      body: payload,
    });
    const text = await r.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: r.status, headers: r.headers, text, json };
  }

  /** A `processing` PaymentIntent succeeds: charged now, and the signed webhook is sent. */
  async complete(piId, opts = {}) {
    const pi = this.intents.get(piId);
    if (!pi) throw new Error(`no PaymentIntent ${piId}`);
    pi.status = 'succeeded';
    this.charges.push({ id: pi.id, amount: pi.amount, customer: pi.customer, payment_id: pi.metadata.tollgate_payment_id });
    return this.sendWebhook(this.event('payment_intent.succeeded', pi), opts);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await new StripeStandin().start(Number(process.argv[2] ?? 0));
  process.stdout.write(`stripe stand-in listening on ${s.origin} (key ${s.secretKey}, webhook secret ${s.webhookSecret})\n`);
}
