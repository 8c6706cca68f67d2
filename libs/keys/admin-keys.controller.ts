import { Controller, Get, Inject, Module, Post, UseGuards } from '@nestjs/common';
import { Actor, type AdminActor, AdminTokenGuard } from '#admin';
import { HOT_STATE, type HotState } from '#hot-state';
import { KEY_RING } from './tokens.js';
import type { KeyRing, SigningKeyView } from './key-ring.js';

const view = (k: SigningKeyView) => ({
  kid: k.kid,
  alg: k.alg,
  status: k.active ? 'signing' : 'retired',
  created_at: k.createdAt.toISOString(),
  retired_at: k.retiredAt?.toISOString() ?? null,
  published_until: k.expiresAt?.toISOString() ?? null,
});

/** The server's signing keys: list and rotate (the new key signs; retired keys stay published). */
@Controller('admin/keys')
@UseGuards(AdminTokenGuard)
class AdminKeysController {
  constructor(
    @Inject(KEY_RING) private readonly keys: KeyRing,
    @Inject(HOT_STATE) private readonly hot: HotState,
  ) {}

  @Get()
  list() {
    return { keys: this.keys.list().map(view) };
  }

  @Post('rotate')
  async rotate(@Actor() actor: AdminActor) {
    const key = await this.keys.rotate(actor);
    // Other instances reload their key ring (and rebuild their provider) on this notice.
    await this.hot.events.publish('keys', key.kid);
    return view(key);
  }
}

@Module({ controllers: [AdminKeysController] })
export class KeysModule {}
