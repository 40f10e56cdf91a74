import { TidingsError } from '../../errors';
import type { DeadLetter } from './dead-letter-store';

/** No dead letter has this id, or its record is no longer in Kafka. */
export class DeadLetterNotFoundError extends TidingsError {
  constructor(message: string) {
    super('DEAD_LETTER_NOT_FOUND', message);
  }
}

/** An action its state does not allow: a second redrive without `again`, a discard of a redriven record. */
export class DeadLetterStateError extends TidingsError {
  readonly deadLetter: DeadLetter;

  constructor(deadLetter: DeadLetter, message: string) {
    super('DEAD_LETTER_STATE', message);
    this.deadLetter = deadLetter;
  }
}

export function noSuchDeadLetter(id: string): DeadLetterNotFoundError {
  return new DeadLetterNotFoundError(`no dead letter with id ${id} (\`tidings dlq list\` shows the ids)`);
}

/** The index has the dead letter, Kafka no longer has its record. */
export function recordGone(id: string, address: string): DeadLetterNotFoundError {
  return new DeadLetterNotFoundError(`dead letter ${id}: its record ${address} is no longer in Kafka (topic deleted or truncated)`);
}

/** Why `action` was refused on dead letter `id`, from its current row (undefined: it does not exist). */
export function refusal(id: string, current: DeadLetter | undefined, action: 'redrive' | 'discard'): TidingsError {
  if (!current) return noSuchDeadLetter(id);
  const by = `by ${current.stateChangedBy ?? 'unknown'} at ${current.stateChangedAt?.toISOString() ?? 'an unknown time'}`;
  if (current.state === 'redriven') {
    return new DeadLetterStateError(
      current,
      action === 'redrive'
        ? `dead letter ${id} was already redriven ${by} to ${current.redrivenTo ?? 'an unknown topic'}; redrive it again on purpose with --again`
        : `dead letter ${id} was redriven ${by} to ${current.redrivenTo ?? 'an unknown topic'}: there is nothing to discard`,
    );
  }
  if (current.state === 'discarded') {
    return new DeadLetterStateError(
      current,
      `dead letter ${id} was discarded ${by}${current.stateReason ? ` ("${current.stateReason}")` : ''}${action === 'redrive' ? '; redrive it anyway with --again' : ''}`,
    );
  }
  return new DeadLetterStateError(current, `dead letter ${id} is ${current.state}`);
}
