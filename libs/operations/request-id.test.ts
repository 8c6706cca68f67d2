import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestIdFrom } from './request-id.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('requestIdFrom', () => {
  it('keeps an id made of safe characters, up to 128 of them', () => {
    for (const id of ['bfe9eb29-ab87-4ca3-be83-a1d5d8305716', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'lb-7:req/42+x=y@z_.', 'x'.repeat(128)]) {
      assert.equal(requestIdFrom(id), id);
    }
  });

  it('makes a fresh one for anything else: none, empty, too long, a joined repeat, spaces, quotes, controls, non-ASCII', () => {
    for (const bad of [undefined, '', 'x'.repeat(129), 'a, b', 'a b', 'a"b', "a'b", 'a\tb', 'a\u0000b', 'ünï', ['a', 'b']]) {
      assert.match(requestIdFrom(bad as string | string[] | undefined), UUID, JSON.stringify(bad));
    }
    assert.notEqual(requestIdFrom(undefined), requestIdFrom(undefined));
  });
});
