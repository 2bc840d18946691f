package dev.median.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS with a CA file, mutual TLS and the bearer token, against real servers. */
class TlsTest {

  private static final String TOKEN = "tls-test-token-0123456789abcdef";

  @TempDir static Path directory;
  private static TestCertificates certificates;
  private static Path tokens;

  @BeforeAll
  static void makeCertificates() throws Exception {
    certificates = TestCertificates.make(Files.createDirectory(directory.resolve("certs")));
    tokens = Files.writeString(directory.resolve("tokens"), TOKEN + " tenant-a\n");
  }

  private static String[] tlsFlags(boolean mutual) {
    String server = certificates.file("server.pem").toString();
    String key = certificates.file("server.key").toString();
    return mutual
        ? new String[] {
          "--tls-cert",
          server,
          "--tls-key",
          key,
          "--auth-tokens",
          tokens.toString(),
          "--tls-client-ca",
          certificates.file("ca.pem").toString()
        }
        : new String[] {"--tls-cert", server, "--tls-key", key, "--auth-tokens", tokens.toString()};
  }

  private static void createAddGet(MedianClient client) {
    String session = client.createSession();
    client.addNumbers(session, new double[] {3, 1, 2, 10});
    assertEquals(new MedianResult(session, 4, 2.5), client.getMedian(session));
    client.deleteSession(session);
  }

  @Test
  void tlsWithACaFileAndATokenWorksByAddressAndByName() throws Exception {
    try (TestServer server = TestServer.start(tlsFlags(false))) {
      for (String target : new String[] {server.target(), "localhost:" + server.port()}) {
        try (MedianClient client =
            MedianClient.forTarget(target)
                .tlsCaFile(certificates.file("ca.pem"))
                .bearerToken(TOKEN)
                .build()) {
          createAddGet(client);
        }
      }
      try (MedianClient noToken =
          MedianClient.forTarget(server.target()).tlsCaFile(certificates.file("ca.pem")).build()) {
        MedianException refused = assertThrows(MedianException.class, noToken::createSession);
        assertEquals(Status.Code.UNAUTHENTICATED, refused.getCode());
      }
    }
  }

  @Test
  void aServerCertificateFromAnotherCaIsRefused() throws Exception {
    try (TestServer server = TestServer.start(tlsFlags(false));
        MedianClient client =
            MedianClient.forTarget(server.target())
                .tlsCaFile(certificates.file("other-ca.pem"))
                .bearerToken(TOKEN)
                .retryFor(Duration.ofMinutes(5))
                .build()) {
      MedianException refused = assertThrows(MedianException.class, client::createSession);
      assertEquals(Status.Code.UNAVAILABLE, refused.getCode());
      assertTrue(
          causes(refused, javax.net.ssl.SSLException.class), "a failed handshake: " + refused);
    }
  }

  @Test
  void mutualTlsWithTheClientCertificate() throws Exception {
    try (TestServer server = TestServer.start(tlsFlags(true));
        MedianClient client =
            MedianClient.forTarget(server.target())
                .tlsCaFile(certificates.file("ca.pem"))
                .clientCertificate(certificates.file("client.pem"), certificates.file("client.key"))
                .bearerToken(TOKEN)
                .build()) {
      createAddGet(client);
    }
  }

  @Test
  void mutualTlsRefusesAClientWithoutACertificate() throws Exception {
    try (TestServer server = TestServer.start(tlsFlags(true));
        MedianClient client =
            MedianClient.forTarget(server.target())
                .tlsCaFile(certificates.file("ca.pem"))
                .bearerToken(TOKEN)
                .retryFor(Duration.ZERO)
                .build()) {
      MedianException refused = assertThrows(MedianException.class, client::createSession);
      assertEquals(Status.Code.UNAVAILABLE, refused.getCode());
    }
  }

  @Test
  void anUnreadableCaFileFailsTheBuild() {
    assertThrows(
        java.io.UncheckedIOException.class,
        () ->
            MedianClient.forTarget("127.0.0.1:1")
                .tlsCaFile(directory.resolve("absent.pem"))
                .build());
  }

  private static boolean causes(Throwable error, Class<? extends Throwable> type) {
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      if (type.isInstance(cause)) {
        return true;
      }
    }
    return false;
  }
}
