import { TidingsError, describe } from '../../errors';

/**
 * What goes wrong in an operator command over the Kafka admin API, each with the fix in its
 * message. kafkajs reports these as protocol errors or connection failures after its retries;
 * the commands check first (topic list, group list) so the operator gets the answer at once.
 */

export class UnknownTopicError extends TidingsError {
  readonly topics: readonly string[];

  constructor(topics: readonly string[], hint = 'check the name and TIDINGS_TOPIC_PREFIX; `tidings topics describe` with no name lists the contract\'s topics') {
    super('TOPIC_UNKNOWN', `unknown topic${topics.length > 1 ? 's' : ''} ${topics.map((t) => `"${t}"`).join(', ')}: ${hint}`);
    this.topics = topics;
  }
}

export class UnknownGroupError extends TidingsError {
  readonly groupId: string;

  constructor(groupId: string, hint = '`tidings groups list` shows the groups the broker knows') {
    super('GROUP_UNKNOWN', `unknown consumer group "${groupId}": ${hint}`);
    this.groupId = groupId;
  }
}

export interface ActiveMember {
  memberId: string;
  clientId: string;
  host: string;
}

/** A change that needs the group stopped (an offset reset) was asked while members are running. */
export class GroupActiveError extends TidingsError {
  readonly groupId: string;
  readonly state: string;
  readonly members: readonly ActiveMember[];

  constructor(groupId: string, state: string, members: readonly ActiveMember[]) {
    const list = members.map((m) => `${m.clientId} on ${m.host} (member ${m.memberId})`).join('; ');
    super(
      'GROUP_ACTIVE',
      `group "${groupId}" is running (state ${state}, ${members.length} member${members.length === 1 ? '' : 's'}: ${list}): ` +
        'its offsets can only be reset while it has no members. Stop those consumers (the `tidings run` processes of this group), wait until `tidings groups describe` shows no members, then run this again',
    );
    this.groupId = groupId;
    this.state = state;
    this.members = members;
  }
}

export class BrokerUnreachableError extends TidingsError {
  constructor(brokers: readonly string[], cause?: unknown) {
    super(
      'BROKER_UNREACHABLE',
      `cannot reach the Kafka broker${brokers.length > 1 ? 's' : ''} at ${brokers.join(', ')}${cause === undefined ? '' : ` (${describe(cause)})`}: check KAFKA_BROKERS and that Kafka is running (\`tidings dev status\` for the local stack)`,
      { retriable: true, cause },
    );
  }
}

const CONNECTION_ERRORS = new Set(['KafkaJSConnectionError', 'KafkaJSBrokerNotFound', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError']);

/** Whether a kafkajs failure (or one in its `cause` chain) is a broker that cannot be reached. */
export function isConnectionFailure(error: unknown): boolean {
  let current = error as { name?: string; cause?: unknown } | undefined;
  for (let depth = 0; current && depth < 10; depth++) {
    if (CONNECTION_ERRORS.has(current.name ?? '')) return true;
    current = current.cause as { name?: string; cause?: unknown } | undefined;
  }
  return false;
}
