package dev.median.client;

import io.grpc.CallCredentials;
import io.grpc.Metadata;
import io.grpc.Status;
import java.util.concurrent.Executor;
import java.util.regex.Pattern;

/**
 * A static bearer token as gRPC call credentials: {@code authorization: Bearer <token>} on every
 * call (RFC 6750, section 2.1).
 *
 * <p>Written here because grpc-java ships none for a fixed token: its google-auth adapter needs the
 * google-auth-library and refuses plaintext channels, which a loopback development server uses.
 * This one is sent over plaintext too, as the Python client does.
 */
final class BearerToken extends CallCredentials {

  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  /** What a header value may hold: printable ASCII without spaces. */
  private static final Pattern TOKEN = Pattern.compile("[\\x21-\\x7e]+");

  private final Metadata headers = new Metadata();

  /**
   * @throws IllegalArgumentException when the token cannot travel as a header value; the message
   *     never shows the token
   */
  BearerToken(String token) {
    if (token == null || !TOKEN.matcher(token).matches()) {
      throw new IllegalArgumentException(
          "the token must be one or more printable ASCII characters without spaces "
              + "(check for a stray newline or quote around it)");
    }
    headers.put(AUTHORIZATION, "Bearer " + token);
  }

  @Override
  public void applyRequestMetadata(
      RequestInfo requestInfo, Executor appExecutor, MetadataApplier applier) {
    try {
      Metadata copy = new Metadata();
      copy.merge(headers);
      applier.apply(copy);
    } catch (RuntimeException e) {
      applier.fail(Status.UNAUTHENTICATED.withDescription("cannot attach the token").withCause(e));
    }
  }
}
