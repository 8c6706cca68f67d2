import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { startTracing } from '#operations';
import { type Gateway, registerGateway, type RunningTollgate, startTollgate, Workload } from '#test-support';

// OpenTelemetry traces of the token and check paths, to a real OTLP/HTTP receiver (docs/operations.md "Traces").
type Attribute = { key: string; value: { stringValue?: string; intValue?: string | number } };
type OtlpSpan = { name: string; traceId: string; spanId: string; parentSpanId?: string; kind: number; attributes: Attribute[]; status?: { code?: number } };

describe('OpenTelemetry traces', () => {
  let collector: Server;
  const received: { contentType?: string; body: string }[] = [];
  let server: RunningTollgate;
  let gateway: Gateway;

  before(async () => {
    collector = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        if (req.url === '/v1/traces') received.push({ contentType: req.headers['content-type'], body });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const port = (collector.address() as { port: number }).port;
    server = await startTollgate({ TOLLGATE_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces` });
    gateway = await registerGateway(server);
  });
  after(async () => {
    await server?.close();
    collector?.close();
  });

  it('off by default: nothing is started without an endpoint', async () => {
    assert.equal(await startTracing(undefined), undefined);
    assert.equal(await startTracing(''), undefined);
  });

  it('one server span per token and check request, named by route, parented to the caller\'s traceparent', async () => {
    const w = await Workload.register(server, { allowed_resources: ['https://api.example.test/'] });
    const issued = await w.requestToken();
    assert.equal(issued.status, 200);
    const refused = await w.requestToken({ grant_type: 'password' });
    assert.equal(refused.status, 400);
    const token = issued.body.access_token as string;
    const url = 'https://api.example.test/orders/1';
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const checked = await request(server.url).get('/check').set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`)
      .set('X-Gateway-Authorization', gateway.basic).set('X-Original-Method', 'GET').set('X-Original-URL', url)
      .set('Authorization', `DPoP ${token}`).set('DPoP', await w.proof('GET', url, { accessToken: token }));
    assert.equal(checked.status, 200);
    await request(server.url).get('/metrics').expect(200);
    // Shutdown sends what is batched.
    await server.close();

    assert.ok(received.length > 0, 'the collector received nothing');
    assert.match(received[0]!.contentType ?? '', /^application\/json/);
    const spans: OtlpSpan[] = received.flatMap((r) => JSON.parse(r.body).resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)));
    const resource = JSON.parse(received[0]!.body).resourceSpans[0].resource.attributes as Attribute[];
    assert.equal(resource.find((a) => a.key === 'service.name')?.value.stringValue, 'tollgate');
    const attr = (s: OtlpSpan, key: string) => {
      const v = s.attributes.find((a) => a.key === key)?.value;
      return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : undefined);
    };
    const token200 = spans.find((s) => s.name === 'POST /oauth/token' && attr(s, 'http.response.status_code') === 200 && attr(s, 'tollgate.request_id') === issued.headers['x-request-id']);
    assert.ok(token200, JSON.stringify(spans.map((s) => s.name)));
    assert.equal(token200.kind, 2, 'SPAN_KIND_SERVER');
    const token400 = spans.find((s) => s.name === 'POST /oauth/token' && attr(s, 'tollgate.request_id') === refused.headers['x-request-id']);
    assert.equal(attr(token400!, 'tollgate.oauth_error'), 'unsupported_grant_type');
    const check = spans.find((s) => s.name === 'GET /check');
    assert.ok(check);
    assert.equal(check.traceId.toLowerCase(), traceId, 'continues the caller\'s trace (W3C Trace Context)');
    assert.equal(check.parentSpanId?.toLowerCase(), '00f067aa0ba902b7');
    assert.equal(attr(check, 'tollgate.decision_id'), checked.body.decision_id);
    assert.equal(attr(check, 'tollgate.request_id'), checked.headers['x-request-id']);
    assert.ok(!spans.some((s) => s.name.includes('metrics')), 'only the token and check paths are traced');
  });
});
