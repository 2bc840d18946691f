package dev.median.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class OptionsTest {

  @Test
  void defaults() throws Exception {
    Options options = Options.parse(new String[] {"--target", "127.0.0.1:1"}, null);
    assertEquals("127.0.0.1:1", options.target());
    assertNull(options.sessionId());
    assertEquals(1000, options.batchSize());
    assertFalse(options.running());
    assertFalse(options.delete());
    assertNull(options.token());
    assertFalse(options.tls());
    assertEquals(Duration.ofSeconds(30), options.retryFor());
  }

  @Test
  void everyFlag() throws Exception {
    Options options =
        Options.parse(
            new String[] {
              "--target", "localhost:9", "--session", "s", "--batch", "7", "--running",
              "--delete", "--token", "t0ken", "--tls-ca", "ca.pem", "--tls-cert", "c.pem",
              "--tls-key", "c.key", "--retry-for", "2.5"
            },
            "from-environment");
    assertEquals("s", options.sessionId());
    assertEquals(7, options.batchSize());
    assertTrue(options.running());
    assertTrue(options.delete());
    assertEquals("t0ken", options.token(), "the flag wins over MEDIAN_TOKEN");
    assertEquals(Path.of("ca.pem"), options.tlsCa());
    assertEquals(Path.of("c.pem"), options.tlsCert());
    assertEquals(Path.of("c.key"), options.tlsKey());
    assertTrue(options.tls());
    assertEquals(Duration.ofMillis(2500), options.retryFor());
  }

  @Test
  void theTokenComesFromTheEnvironmentWithoutTheFlag() throws Exception {
    assertEquals("env-token", Options.parse(new String[] {"--target", "h:1"}, "env-token").token());
  }

  @Test
  void aClientCertificateAloneMakesTls() throws Exception {
    Options options =
        Options.parse(
            new String[] {"--target", "h:1", "--tls-cert", "c.pem", "--tls-key", "c.key"}, null);
    assertTrue(options.tls());
    assertNull(options.tlsCa());
  }

  @Test
  void usageErrors() {
    String[][] bad = {
      {},
      {"--target"},
      {"--target", "h:1", "--batch", "0"},
      {"--target", "h:1", "--batch", "-3"},
      {"--target", "h:1", "--tls-cert", "c.pem"},
      {"--target", "h:1", "--tls-key", "c.key"},
      {"--target", "h:1", "--retry-for", "-1"},
      {"--target", "h:1", "--retry-for", "soon"},
      {"--target", "h:1", "--frobnicate"},
      {"--target", "h:1", "stray"},
    };
    for (String[] args : bad) {
      assertThrows(
          Options.UsageException.class, () -> Options.parse(args, null), String.join(" ", args));
    }
  }

  @Test
  void retryForZeroTurnsResumingOff() throws Exception {
    assertEquals(
        Duration.ZERO,
        Options.parse(new String[] {"--target", "h:1", "--retry-for", "0"}, null).retryFor());
  }
}
