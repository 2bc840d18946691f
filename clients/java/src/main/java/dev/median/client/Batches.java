package dev.median.client;

import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.PrimitiveIterator;

/**
 * Cuts numbers into batches of at most {@code batchSize}, lazily, in order; no numbers at all make
 * one empty batch, so that a stream still names its session and the server answers with its count.
 */
final class Batches implements Iterator<double[]> {

  private final PrimitiveIterator.OfDouble numbers;
  private final int batchSize;
  private boolean yielded;

  Batches(PrimitiveIterator.OfDouble numbers, int batchSize) {
    checkBatchSize(batchSize);
    this.numbers = numbers;
    this.batchSize = batchSize;
  }

  static void checkBatchSize(int batchSize) {
    if (batchSize < 1) {
      throw new IllegalArgumentException("batchSize must be at least 1, not " + batchSize);
    }
  }

  @Override
  public boolean hasNext() {
    return !yielded || numbers.hasNext();
  }

  @Override
  public double[] next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    yielded = true;
    double[] batch = new double[Math.min(batchSize, 1024)];
    int size = 0;
    while (size < batchSize && numbers.hasNext()) {
      if (size == batch.length) {
        batch = Arrays.copyOf(batch, (int) Math.min((long) batchSize, 2L * batch.length));
      }
      batch[size++] = numbers.nextDouble();
    }
    return size == batch.length ? batch : Arrays.copyOf(batch, size);
  }
}
