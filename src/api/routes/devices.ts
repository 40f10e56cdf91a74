import { z } from 'zod';
import { DEVICE_PLATFORMS, DeviceTokens, type DeviceToken } from '../../notifications/providers/device-tokens';
import { route, type Route, type RouteDeps } from '../route';
import { oneOf, userParams } from './common';

const deviceParams = userParams.extend({
  // FCM registration tokens are about 160 URL-safe characters; APNs and web tokens fit too.
  token: z.string().min(1).max(4096).regex(/^[A-Za-z0-9_:.\-]+$/, { error: 'must be a push registration token (letters, digits, "_", "-", ":", ".")' }),
});
const deviceBody = z.object({ platform: z.enum(DEVICE_PLATFORMS, { error: oneOf('platform', DEVICE_PLATFORMS) }) }).strict();

/** A device as the API shows it: `live` false once the push service called the token unregistered. */
function deviceView(device: DeviceToken): Record<string, unknown> {
  return { token: device.token, platform: device.platform, registeredAt: device.createdAt, lastSeenAt: device.lastSeenAt, live: device.deadAt === null, deadAt: device.deadAt, deadReason: device.deadReason };
}

/** A user's push devices: list, register (a token moves with its device's sign-in), unregister. */
export function deviceRoutes({ db, platform }: RouteDeps): Route[] {
  const devices = new DeviceTokens(db, platform?.dataKeys);
  return [
    route({
      method: 'get',
      path: '/users/:userId/devices',
      operationId: 'listDevices',
      tag: 'devices',
      summary: "The user's push tokens, live and dead",
      access: { kind: 'user' },
      params: userParams,
      ok: '`{userId, devices: [{token, platform, registeredAt, lastSeenAt, live, deadAt, deadReason}]}`',
      async handle({ params: { userId } }) {
        return { body: { userId, devices: (await devices.list(userId)).map(deviceView) } };
      },
    }),
    route({
      method: 'put',
      path: '/users/:userId/devices/:token',
      operationId: 'registerDevice',
      tag: 'devices',
      summary: 'Registers a push token for the user',
      description:
        "A token registered to another user moves to this one only when the caller proves this user with the user's own token (the device's new sign-in); an API key cannot move it.",
      access: { kind: 'user' },
      params: deviceParams,
      body: deviceBody,
      ok: '`{userId, device}`',
      otherResponses: { 409: 'The token is registered to another user and the caller is not this user (`token_registered_to_another_user`), or the push service reported it unregistered (`token_dead`): the app must get a fresh one.' },
      async handle({ params: { userId, token }, body: { platform }, principal }) {
        const outcome = await db.transaction(async (trx) => {
          const holder = await devices.holder(token, trx);
          // Only a user's own proof moves a device to them: an operator's key must not redirect someone's pushes.
          if (holder !== undefined && holder !== userId && principal.kind === 'key') return 'owned_by_another_user' as const;
          return devices.register(userId, token, platform, trx);
        });
        if (outcome === 'owned_by_another_user') {
          return {
            status: 409,
            body: { error: 'token_registered_to_another_user', field: 'token', message: "token: registered to another user; only the device's new user can move it, calling with their own user token" },
          };
        }
        if (outcome.deadAt !== null) {
          // A token the push service called unregistered never comes back: the app must get a fresh one.
          return {
            status: 409,
            body: {
              error: 'token_dead',
              message: `token: the push service reported it unregistered (${outcome.deadReason ?? 'no reason given'}); ask the device's push SDK for a new token`,
              field: 'token',
              device: deviceView(outcome),
            },
          };
        }
        return { body: { userId, device: deviceView(outcome) } };
      },
    }),
    route({
      method: 'delete',
      path: '/users/:userId/devices/:token',
      operationId: 'unregisterDevice',
      tag: 'devices',
      summary: "Forgets one of the user's push tokens (sign-out)",
      description: "Another user's token is left alone (`removed: false`).",
      access: { kind: 'user' },
      params: deviceParams,
      ok: '`{userId, token, removed}`',
      async handle({ params: { userId, token } }) {
        return { body: { userId, token, removed: await devices.remove(userId, token) } };
      },
    }),
  ];
}
