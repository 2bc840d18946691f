package dev.median.client;

import java.security.SecureRandom;
import java.util.Base64;

/** Session and writer ids: 128 random bits, URL-safe base64 without padding (22 characters). */
final class Ids {

  private static final SecureRandom RANDOM = new SecureRandom();

  private Ids() {}

  static String random128() {
    byte[] bytes = new byte[16];
    RANDOM.nextBytes(bytes);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }
}
