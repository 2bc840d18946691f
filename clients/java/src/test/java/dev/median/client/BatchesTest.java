package dev.median.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.DoubleStream;
import org.junit.jupiter.api.Test;

class BatchesTest {

  private static List<double[]> cut(double[] numbers, int batchSize) {
    List<double[]> batches = new ArrayList<>();
    new Batches(DoubleStream.of(numbers).iterator(), batchSize).forEachRemaining(batches::add);
    return batches;
  }

  @Test
  void cutsInOrderWithAShorterLastBatch() {
    List<double[]> batches = cut(new double[] {1, 2, 3, 4, 5}, 2);
    assertArrayEquals(new double[] {1, 2}, batches.get(0));
    assertArrayEquals(new double[] {3, 4}, batches.get(1));
    assertArrayEquals(new double[] {5}, batches.get(2));
    assertEquals(3, batches.size());
  }

  @Test
  void noNumbersMakeOneEmptyBatch() {
    List<double[]> batches = cut(new double[0], 1000);
    assertEquals(1, batches.size());
    assertArrayEquals(new double[0], batches.get(0));
  }

  @Test
  void batchesLargerThanTheFirstBufferGrow() {
    double[] numbers = DoubleStream.iterate(0, x -> x + 1).limit(5000).toArray();
    List<double[]> batches = cut(numbers, 3000);
    assertArrayEquals(DoubleStream.iterate(0, x -> x + 1).limit(3000).toArray(), batches.get(0));
    assertArrayEquals(DoubleStream.iterate(3000, x -> x + 1).limit(2000).toArray(), batches.get(1));
  }

  @Test
  void readsTheSourceLazily() {
    double[] pulled = {0};
    Batches batches = new Batches(DoubleStream.generate(() -> pulled[0]++).limit(10).iterator(), 4);
    batches.next();
    assertArrayEquals(new double[] {4}, pulled);
  }

  @Test
  void refusesABatchSizeBelowOne() {
    assertThrows(
        IllegalArgumentException.class, () -> new Batches(DoubleStream.of(1).iterator(), 0));
  }
}
