import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openHotState } from '#hot-state';
import { gatewayCheck, registerGateway, startTollgate, Workload } from '#test-support';

const base = process.env.REDIS_URL;
const API = 'https://api.example.test';

/** REDIS_URL with another database number. */
const onDatabase = (db: number) => {
  const u = new URL(base!);
  u.pathname = `/${db}`;
  return u.toString();
};

/**
 * Redis pub/sub ignores the database a connection selected: two deployments that share a Redis
 * server and are kept apart by database number must not hear each other's change notices.
 */
describe('deployments on one Redis server, in different databases', { skip: !base && 'needs REDIS_URL' }, () => {
  it('hear only their own change notices', async () => {
    const [a, b, zero] = await Promise.all([openHotState(onDatabase(11)), openHotState(onDatabase(12)), openHotState(onDatabase(0))]);
    try {
      const topic = `probe-${randomUUID()}`;
      const heard = { a: [] as string[], b: [] as string[], zero: [] as string[] };
      a.events.subscribe(topic, (m) => heard.a.push(m));
      b.events.subscribe(topic, (m) => heard.b.push(m));
      zero.events.subscribe(topic, (m) => heard.zero.push(m));
      await sleep(200); // the subscriptions reach Redis
      await a.events.publish(topic, 'from a');
      await zero.events.publish(topic, 'from zero');
      await sleep(300);
      assert.deepEqual(heard, { a: ['from a'], b: [], zero: ['from zero'] });
    } finally {
      await Promise.all([a.close(), b.close(), zero.close()]);
    }
  });

  it("a decision stream shows its own deployment's decisions, never the other's", async () => {
    const [mine, theirs] = [await startTollgate({ REDIS_URL: onDatabase(13) }), await startTollgate({ REDIS_URL: onDatabase(14) })];
    const controller = new AbortController();
    try {
      const call = async (server: typeof mine) => {
        const w = await Workload.register(server, { allowed_resources: [`${API}/`] });
        const res = await gatewayCheck(server, await registerGateway(server), w, await w.token());
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return res.headers['x-tollgate-decision-id'] as string;
      };
      const res = await fetch(`${mine.url}/admin/decisions/stream`, { headers: { Authorization: mine.admin }, signal: controller.signal });
      assert.equal(res.status, 200);
      const theirDecision = await call(theirs);
      const myDecision = await call(mine);
      const reader = res.body!.getReader();
      const timer = setTimeout(() => controller.abort(), 3000);
      let text = '';
      try {
        while (!text.includes(myDecision)) {
          const { value, done } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
      } finally {
        clearTimeout(timer);
      }
      assert.ok(text.includes(`id: ${myDecision}`), 'its own decision was streamed');
      assert.ok(!text.includes(theirDecision), "the other deployment's decision was streamed");
    } finally {
      controller.abort();
      await mine.close();
      await theirs.close();
    }
  });
});
