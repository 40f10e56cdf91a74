import type { ReceivedSpan } from './otlp-receiver';

/** Every string a span carries: its name, attribute values, link and event attributes, its status message; where personal data must not be. */
export function textsOf(span: ReceivedSpan): string[] {
  return [
    span.name,
    span.status.message,
    ...Object.values(span.attributes),
    ...span.links.flatMap((l) => Object.values(l.attributes)),
    ...span.events.flatMap((e) => [e.name, ...Object.values(e.attributes)]),
  ].map(String);
}
