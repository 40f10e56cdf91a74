import type { KeyLookup } from '../crypto/data-key-store';
import { isKeyId, type DataKeyReader } from '../crypto/personal-fields';
import { KEY_ID_HEADER } from '../producer/publisher';
import type { InboundRecord } from './messages';

/**
 * The data keys of one chunk, read with one query: the first record that needs a key brings
 * the keys every record of the chunk names in its `tidings-key-id` header. A key asked for
 * later (a producer that left the header out) costs one more query. Read per chunk, so an
 * erasure committed since the last chunk is seen.
 */
export class ChunkKeys implements DataKeyReader {
  private readonly found = new Map<string, KeyLookup>();
  private readonly asked = new Set<string>();
  private hinted: string[] | undefined;

  constructor(
    private readonly store: DataKeyReader,
    records: readonly InboundRecord[],
  ) {
    const ids = new Set<string>();
    for (const record of records) {
      const id = record.headers[KEY_ID_HEADER];
      // Only well-formed ids reach the query: a header is the producer's word, not checked data.
      if (id !== undefined && isKeyId(id)) ids.add(id);
    }
    this.hinted = [...ids];
  }

  async keysById(keyIds: Iterable<string>): Promise<Map<string, KeyLookup>> {
    const wanted = [...keyIds];
    const missing = wanted.filter((id) => !this.asked.has(id));
    if (missing.length > 0) {
      const batch = new Set([...missing, ...(this.hinted ?? [])]);
      this.hinted = undefined;
      const found = await this.store.keysById(batch);
      for (const id of batch) this.asked.add(id);
      for (const [id, key] of found) this.found.set(id, key);
    }
    const out = new Map<string, KeyLookup>();
    for (const id of wanted) {
      const key = this.found.get(id);
      if (key !== undefined) out.set(id, key);
    }
    return out;
  }
}
