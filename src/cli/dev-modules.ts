/* eslint-disable @typescript-eslint/no-require-imports */
/**
 * The local stack and the local Twilio and FCM endpoints, loaded when a `tidings dev` or
 * `tidings demo` command runs rather than by every command (nor by the SDK). `require` and not
 * `import()`: the repository's bin runs the sources through tsx's CommonJS hook, which
 * resolves `require` of a .ts file but not a dynamic import.
 */
export const devModules = {
  stack: () => require('../dev/stack') as typeof import('../dev/stack'),
  mailCatcher: () => require('../dev/mail-catcher') as typeof import('../dev/mail-catcher'),
  localTwilio: () => require('../dev/local-twilio') as typeof import('../dev/local-twilio'),
  localFcm: () => require('../dev/local-fcm') as typeof import('../dev/local-fcm'),
  backgroundProcess: () => require('../dev/background-process') as typeof import('../dev/background-process'),
};
