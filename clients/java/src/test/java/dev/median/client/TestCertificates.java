package dev.median.client;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The test certificates of the repository's tests/certs.py (one place makes them for every
 * language): {@code ca} signed the server's (localhost, 127.0.0.1, ::1) and {@code client}; {@code
 * other-ca} signed {@code other-client}.
 */
record TestCertificates(Path directory) {

  static TestCertificates make(Path directory) throws IOException, InterruptedException {
    Path python = TestServer.repository().resolve(".venv/bin/python");
    Process process =
        new ProcessBuilder(
                python.toString(),
                "-c",
                "import sys; from pathlib import Path; from tests.certs import make_certificates; "
                    + "make_certificates(Path(sys.argv[1]))",
                directory.toString())
            .directory(TestServer.repository().toFile())
            .redirectErrorStream(true)
            .start();
    String output = new String(process.getInputStream().readAllBytes());
    if (process.waitFor() != 0) {
      throw new IllegalStateException("tests/certs.py failed:\n" + output);
    }
    return new TestCertificates(directory);
  }

  Path file(String name) {
    return directory.resolve(name);
  }
}
