import request from 'supertest';
import type { RunningTollgate } from './server.js';

/** A registered gateway client and the credentials it presents (client_secret_basic). */
export interface Gateway {
  id: string;
  secret: string;
  /** `base64(id:secret)`, as gateway configs carry it. */
  credential: string;
  /** `Basic <credential>` for X-Gateway-Authorization. */
  basic: string;
}

export async function registerGateway(server: Pick<RunningTollgate, 'url' | 'admin'>, name = 'test gateway'): Promise<Gateway> {
  const res = await request(server.url).post('/admin/clients').set('Authorization', server.admin).send({ client_name: name, roles: ['gateway'] });
  if (res.status !== 201) throw new Error(`gateway registration failed: ${res.status} ${JSON.stringify(res.body)}`);
  const credential = Buffer.from(`${res.body.client_id}:${res.body.client_secret}`).toString('base64');
  return { id: res.body.client_id, secret: res.body.client_secret, credential, basic: `Basic ${credential}` };
}
