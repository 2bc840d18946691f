/**
 * Numbers into batches, and a pull-once view of the caller's input that survives a resume.
 */

/** A plain or an asynchronous iterable. */
export type AnyIterable<T> = Iterable<T> | AsyncIterable<T>;

/** The items of a plain or an asynchronous iterable, as one asynchronous iterator. */
export async function* asAsyncIterable<T>(items: AnyIterable<T>): AsyncGenerator<T> {
  if (Symbol.asyncIterator in items) {
    yield* items;
  } else {
    yield* items as Iterable<T>;
  }
}

/** Consecutive slices of at most `size` items, in order; exactly one empty slice for no items. */
export function* batches<T>(items: readonly T[], size: number): Generator<T[]> {
  if (items.length === 0) {
    yield [];
    return;
  }
  for (let start = 0; start < items.length; start += size) {
    yield items.slice(start, start + size);
  }
}

/**
 * The numbers in order, in arrays of at most `size` (an integer, at least 1); exactly one empty
 * array when there are none, so that a stream of no numbers still names its session.
 * Throws a `RangeError` for a bad `size`.
 */
export async function* inBatches(
  numbers: AnyIterable<number>,
  size: number,
): AsyncGenerator<number[]> {
  checkBatchSize(size);
  if (Array.isArray(numbers)) {
    // An array is cut by slicing, not one number at a time through the generator.
    yield* batches(numbers, size);
    return;
  }
  let batch: number[] = [];
  let yielded = false;
  for await (const number of asAsyncIterable(numbers)) {
    batch.push(number);
    if (batch.length === size) {
      yield batch;
      yielded = true;
      batch = [];
    }
  }
  if (batch.length > 0 || !yielded) {
    yield batch;
  }
}

export function checkBatchSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new RangeError(`batchSize must be an integer of at least 1, not ${size}`);
  }
}

/** The caller's iterable threw: not a gRPC failure, never retried. */
export class SourceFailure {
  constructor(readonly cause: unknown) {}
}

/**
 * Pulls items one at a time. An item is pulled once (`peek`) and stays until it is `take`n, so
 * that an attempt that gave up waiting for it (its stream failed) leaves it to the next attempt
 * and no item is lost between two streams.
 */
export class Source<T> {
  private pulling: Promise<IteratorResult<T>> | undefined;
  private finished = false;

  constructor(private readonly iterator: AsyncIterator<T>) {}

  /** Whether the input has ended (its end was taken). */
  get done(): boolean {
    return this.finished;
  }

  /** The next item's result, pulled once; rejects with a `SourceFailure`. */
  peek(): Promise<IteratorResult<T>> {
    if (this.pulling === undefined) {
      this.pulling = this.iterator.next().catch((error: unknown) => {
        throw new SourceFailure(error);
      });
      // Handled here as well: an attempt may stop waiting for it before it settles.
      this.pulling.catch(() => undefined);
    }
    return this.pulling;
  }

  /** Marks the result of the last `peek` as consumed. */
  take(result: IteratorResult<T>): void {
    this.pulling = undefined;
    if (result.done === true) {
      this.finished = true;
    }
  }

  /**
   * Ends the caller's iterator early (its `return()`), when the call fails for good. Not awaited:
   * an async generator queues `return()` behind a pull still waiting for its next item.
   */
  close(): void {
    if (!this.finished) {
      this.finished = true;
      this.iterator.return?.()?.catch(() => undefined);
    }
  }
}
