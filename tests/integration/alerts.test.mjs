// Spend alerts: a webhook receiver gets exactly one signed notification per threshold per
// month, deliveries are retried, e-mail goes out through SMTP, and bad input is refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';

import { Env, assertErrorResponse, sleep, waitFor } from './harness.mjs';
import { startSmtpSink } from './smtp_sink.mjs';

// A webhook receiver that can be told to fail its first N deliveries.
async function startReceiver({ failFirst = 0 } = {}) {
  const got = [];
  let failures = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (failures < failFirst) {
        failures++;
        res.writeHead(503).end();
        return;
      }
      got.push({ headers: req.headers, body, at: Date.now() });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { got, url: `http://127.0.0.1:${server.address().port}/hook`, failures: () => failures,
           close: () => new Promise((r) => server.close(r)) };
}

function verify(sigHeader, body, secret) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sigHeader ?? '');
  assert.ok(m, `signature header: ${sigHeader}`);
  const mac = crypto.createHmac('sha256', secret).update(`${m[1]}.${body}`).digest('hex');
  return crypto.timingSafeEqual(Buffer.from(mac), Buffer.from(m[2]));
}

describe('spend alerts', () => {
  let env, recv, smtp;

  before(async () => {
    recv = await startReceiver({ failFirst: 2 });
    smtp = await startSmtpSink();
    env = await Env.start({
      models: ['gpt-4o-mini'],
      serveArgs: ['--alert-retry-ms', '50', '--smtp-url', `smtp://127.0.0.1:${smtp.port}`],
    });
    // 5 output tokens × $1000 per 1M = 0.5 cent per request: thresholds are easy to reach.
    let r = await env.admin('POST', '/v1/organization/models/alert-model', { input_price: '0', output_price: '1000' });
    assert.equal(r.status, 200, r.text);
    r = await env.admin('POST', `/v1/organization/providers/${env.providerId}`, {
      models: [{ model: 'gpt-4o-mini' }, { model: 'alert-model' }],
    });
    assert.equal(r.status, 200, r.text);
  });

  after(async () => {
    await env?.stop();
    await recv?.close();
    await smtp?.close();
  });

  const chat = () => env.client().chat.completions.create({
    model: 'alert-model', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }],
  });

  it('refuses bad alerts and creates nothing', async () => {
    const cases = [
      [{}, 'missing_required_parameter', 'threshold_amount'],
      [{ threshold_amount: 0, notification_channel: { type: 'webhook', url: recv.url } }, 'invalid_value', 'threshold_amount'],
      [{ threshold_amount: 1.5, notification_channel: { type: 'webhook', url: recv.url } }, 'invalid_value', 'threshold_amount'],
      [{ threshold_amount: 1 }, 'missing_required_parameter', 'notification_channel'],
      [{ threshold_amount: 1, notification_channel: { type: 'webhook', url: 'ftp://x' } }, 'invalid_value', 'notification_channel'],
      [{ threshold_amount: 1, notification_channel: { type: 'pager' } }, 'invalid_value', 'notification_channel'],
      [{ threshold_amount: 1, notification_channel: { type: 'email', recipients: ['not-an-address'] } }, 'invalid_value', 'notification_channel'],
      [{ threshold_amount: 1, currency: 'EUR', notification_channel: { type: 'webhook', url: recv.url } }, 'invalid_value', 'currency'],
    ];
    for (const [body, code, param] of cases) {
      const r = await env.admin('POST', '/v1/organization/spend_alerts', body);
      assertErrorResponse(r, 400, { type: 'invalid_request_error', code, param }, JSON.stringify(body));
    }
    const list = await env.admin('GET', '/v1/organization/spend_alerts');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.data, []);
  });

  it('a project key cannot manage alerts', async () => {
    const r = await env.request('GET', '/v1/organization/spend_alerts', { key: env.apiKey });
    assertErrorResponse(r, 401, { type: 'invalid_request_error', code: null });
  });

  it('fires exactly once per threshold, signed, retried until delivered', async () => {
    const a1 = await env.admin('POST', '/v1/organization/spend_alerts', {
      threshold_amount: 1, currency: 'USD', interval: 'month',
      notification_channel: { type: 'webhook', url: recv.url },
    });
    assert.equal(a1.status, 200, a1.text);
    assert.equal(a1.json.object, 'organization.spend_alert');
    assert.match(a1.json.id, /^alert_/);
    assert.match(a1.json.signing_secret, /^whsec_/);
    const a2 = await env.admin('POST', `/v1/organization/projects/${env.projectId}/spend_alerts`, {
      threshold_amount: 3, notification_channel: { type: 'webhook', url: recv.url },
    });
    assert.equal(a2.status, 200, a2.text);
    assert.equal(a2.json.object, 'project.spend_alert');
    // the secret is shown once
    const again = await env.admin('GET', `/v1/organization/spend_alerts/${a1.json.id}`);
    assert.equal(again.status, 200);
    assert.equal(again.json.signing_secret, undefined);
    assert.ok(!again.text.includes(a1.json.signing_secret));

    // 1 request = 0.5 cent: the 2nd crosses 1 cent, the 6th crosses 3 cents; send 10, 4 at a time.
    for (let i = 0; i < 10; i += 2) await Promise.all([chat(), chat()]);
    await waitFor(() => recv.got.length >= 2, { timeoutMs: 10000 });
    await sleep(500); // anything extra would have arrived by now
    assert.equal(recv.got.length, 2, JSON.stringify(recv.got.map((g) => g.body)));
    assert.equal(recv.failures(), 2, 'the first two deliveries failed and were retried');

    const bodies = recv.got.map((g) => ({ ...g, json: JSON.parse(g.body) }));
    const org = bodies.find((b) => b.json.alert_id === a1.json.id);
    const proj = bodies.find((b) => b.json.alert_id === a2.json.id);
    assert.ok(org && proj, 'one notification for each alert');
    assert.ok(verify(org.headers['tollgate-signature'], org.body, a1.json.signing_secret), 'org alert signature');
    assert.ok(verify(proj.headers['tollgate-signature'], proj.body, a2.json.signing_secret), 'project alert signature');
    assert.ok(!verify(org.headers['tollgate-signature'], org.body, a2.json.signing_secret), 'another secret does not verify');
    assert.equal(org.json.type, 'spend_alert.triggered');
    assert.equal(org.json.organization_id, env.orgId);
    assert.equal(org.json.project_id, null);
    assert.equal(org.json.threshold_amount, 1);
    assert.equal(proj.json.project_id, env.projectId);
    assert.match(org.json.month, /^\d{4}-\d{2}$/);
    // current_spend is an exact decimal number of dollars, at or above the threshold
    assert.match(org.body, /"current_spend":0\.0[1-9]\d*[,}]/);
  });

  it('does not fire again after a restart in the same month', async () => {
    const before = recv.got.length;
    await env.killServer('SIGTERM');
    await env.restartServer();
    await chat();
    await chat();
    await sleep(700);
    assert.equal(recv.got.length, before);
  });

  it('deletes alerts', async () => {
    const list = await env.admin('GET', '/v1/organization/spend_alerts');
    assert.equal(list.status, 200);
    assert.equal(list.json.data.length, 1);
    const id = list.json.data[0].id;
    const del = await env.admin('DELETE', `/v1/organization/spend_alerts/${id}`);
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json, { id, object: 'organization.spend_alert.deleted', deleted: true });
    const gone = await env.admin('GET', `/v1/organization/spend_alerts/${id}`);
    assertErrorResponse(gone, 404, { type: 'invalid_request_error' });
  });

  it('sends e-mail alerts through SMTP', async () => {
    // spend is already above 4 cents this month: a new alert at 1 cent fires on the next charge
    const a = await env.admin('POST', '/v1/organization/spend_alerts', {
      threshold_amount: 1,
      notification_channel: { type: 'email', recipients: ['ops@example.com', 'cfo@example.com'], subject_prefix: '[tollgate]' },
    });
    assert.equal(a.status, 200, a.text);
    await chat();
    await waitFor(() => smtp.mails.length >= 1, { timeoutMs: 10000 });
    await sleep(300);
    assert.equal(smtp.mails.length, 1);
    const m = smtp.mails[0];
    assert.deepEqual(m.rcpt.map((r) => r.match(/<(.*)>/)[1]).sort(), ['cfo@example.com', 'ops@example.com']);
    assert.match(m.text, /^Subject: \[tollgate\] Spend alert: \$0\.01 threshold reached$/m);
    assert.ok(m.text.includes(a.json.id));
  });
});
