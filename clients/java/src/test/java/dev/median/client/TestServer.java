package dev.median.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real median-server process on loopback, started from the repository's .venv ({@code make
 * venv}), on a free port below the kernel's ephemeral range, and on the same port on {@link
 * #restart}.
 *
 * <p>Not port 0: the kernel picks that from the ephemeral range (32768 and up), from which every
 * outgoing connection takes its local port, so a port of that range that was free when the server
 * first bound it may be a connection's by the time the test restarts the server on it.
 */
final class TestServer implements AutoCloseable {

  private static final Pattern LISTENING = Pattern.compile("listening on (\\S+):(\\d+)");
  private static final long START_TIMEOUT_SECONDS = 120; // the machine may be busy

  private final List<String> flags;
  private final Process process;
  private final int port;
  private final StringBuffer log = new StringBuffer();

  private TestServer(List<String> flags, int port) throws IOException, InterruptedException {
    this.flags = List.copyOf(flags);
    Path executable = repository().resolve(".venv/bin/median-server");
    if (!executable.toFile().canExecute()) {
      throw new IllegalStateException(
          executable + " is missing: run `make venv` at the repository root first");
    }
    List<String> command = new ArrayList<>(List.of(executable.toString(), "--host", "127.0.0.1"));
    command.addAll(List.of("--port", Integer.toString(port), "--log-level", "info"));
    command.addAll(flags);
    process =
        new ProcessBuilder(command)
            .directory(repository().toFile())
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    CompletableFuture<Integer> bound = new CompletableFuture<>();
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader lines =
                  new BufferedReader(
                      new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                  log.append(line).append('\n');
                  Matcher listening = LISTENING.matcher(line);
                  if (listening.find()) {
                    bound.complete(Integer.parseInt(listening.group(2)));
                  }
                }
              } catch (IOException e) {
                // The process is gone; `bound` below reports it.
              }
              bound.completeExceptionally(new IllegalStateException("the server exited:\n" + log));
            },
            "median-server-log");
    reader.setDaemon(true);
    reader.start();
    try {
      this.port = bound.get(START_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      process.destroyForcibly();
      throw new IllegalStateException("the server did not start:\n" + log, e);
    }
  }

  /** Starts a server on a free port with these extra flags. */
  static TestServer start(String... flags) throws IOException, InterruptedException {
    return new TestServer(List.of(flags), freePortBelowEphemeralRange());
  }

  /** A port in 20000..31999 that can be bound on 127.0.0.1 now. */
  static int freePortBelowEphemeralRange() throws IOException {
    SplittableRandom random = new SplittableRandom();
    for (int tries = 0; tries < 1000; tries++) {
      int port = random.nextInt(20_000, 32_000);
      try (ServerSocket probe = new ServerSocket()) {
        probe.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        return port;
      } catch (IOException taken) {
        // Someone else's: draw again.
      }
    }
    throw new IOException("no free port between 20000 and 32000 on 127.0.0.1");
  }

  /** The repository root: Surefire passes it; otherwise two folders up from clients/java. */
  static Path repository() {
    return Path.of(System.getProperty("median.repository", "../..")).toAbsolutePath().normalize();
  }

  int port() {
    return port;
  }

  String target() {
    return "127.0.0.1:" + port;
  }

  /** SIGKILL, as a crash: no drain, no goodbye to the clients. Waits until the process is gone. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor();
  }

  /** A new server with the same flags on the same port (and so on the same --data-dir). */
  TestServer restart() throws IOException, InterruptedException {
    return new TestServer(flags, port);
  }

  String log() {
    return log.toString();
  }

  /** SIGTERM, then waits for the exit. */
  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor();
    }
  }
}
