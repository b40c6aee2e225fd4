// The smallest SMTP server that accepts mail (enough for libcurl's client), on loopback, for
// `serve --smtp-url`: it accepts everything and keeps the messages in `mails`
// ({from, rcpt: [lines], text}). Used by alerts.test.mjs and the console's e2e tests.

import net from 'node:net';

export async function startSmtpSink() {
  const mails = [];
  const sockets = new Set();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    let data = false;
    let cur = { rcpt: [], text: '' };
    sock.write('220 e2e ESMTP\r\n');
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      for (;;) {
        if (data) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          cur.text = buf.slice(0, end);
          buf = buf.slice(end + 5);
          mails.push(cur);
          cur = { rcpt: [], text: '' };
          data = false;
          sock.write('250 OK\r\n');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') sock.write('250 e2e\r\n');
        else if (verb === 'MAIL') { cur.from = line; sock.write('250 OK\r\n'); }
        else if (verb === 'RCPT') { cur.rcpt.push(line); sock.write('250 OK\r\n'); }
        else if (verb === 'DATA') { data = true; sock.write('354 go\r\n'); }
        else if (verb === 'QUIT') { sock.end('221 bye\r\n'); return; }
        else sock.write('250 OK\r\n');
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    mails,
    port: server.address().port,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
