package dev.median.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.median.v1.GetMedianResponse;
import io.grpc.Status;
import io.grpc.netty.shaded.io.netty.bootstrap.ServerBootstrap;
import io.grpc.netty.shaded.io.netty.buffer.Unpooled;
import io.grpc.netty.shaded.io.netty.channel.Channel;
import io.grpc.netty.shaded.io.netty.channel.ChannelHandlerContext;
import io.grpc.netty.shaded.io.netty.channel.ChannelInboundHandlerAdapter;
import io.grpc.netty.shaded.io.netty.channel.ChannelInitializer;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.Http2Error;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.Http2FrameStream;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.Http2HeadersFrame;
import io.grpc.netty.shaded.io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The library against an HTTP/2 peer on loopback that resets streams the way Envoy does when the
 * shard behind it dies (RST_STREAM INTERNAL_ERROR after the response headers), or that sends an
 * INTERNAL status itself. A hand-made peer because no real server can be told to reset a stream;
 * it is written with the HTTP/2 codec that grpc-java's transport ships.
 */
class StreamResetTest {

  /** What the transport says for a reset; the tests below check it against the real transport. */
  private static final String WORDS = TransportStatuses.NETTY_RST_STREAM_INTERNAL;

  private final NioEventLoopGroup group = new NioEventLoopGroup(1);
  private final AtomicInteger streams = new AtomicInteger();

  @AfterEach
  void stop() {
    group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
  }

  /** Starts a peer that answers its n-th stream (from 1) with {@code reply.apply(n)}; its port. */
  private int peer(IntFunction<Reply> reply) {
    Channel server =
        new ServerBootstrap()
            .group(group)
            .channel(NioServerSocketChannel.class)
            .childHandler(
                new ChannelInitializer<Channel>() {
                  @Override
                  protected void initChannel(Channel channel) {
                    channel
                        .pipeline()
                        .addLast(Http2FrameCodecBuilder.forServer().build())
                        .addLast(
                            new ChannelInboundHandlerAdapter() {
                              @Override
                              public void channelRead(ChannelHandlerContext ctx, Object frame) {
                                if (frame instanceof Http2HeadersFrame headers) {
                                  Reply answer = reply.apply(streams.incrementAndGet());
                                  answer.send(ctx, headers.stream());
                                }
                                ReferenceCountUtil.release(frame);
                              }
                            });
                  }
                })
            .bind("127.0.0.1", 0)
            .syncUninterruptibly()
            .channel();
    return ((InetSocketAddress) server.localAddress()).getPort();
  }

  private interface Reply {
    void send(ChannelHandlerContext ctx, Http2FrameStream stream);
  }

  /** Response headers, then RST_STREAM INTERNAL_ERROR: what Envoy sends when the shard dies. */
  private static Reply reset() {
    return (ctx, stream) -> {
      ctx.write(new DefaultHttp2HeadersFrame(responseHeaders()).stream(stream));
      ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.INTERNAL_ERROR).stream(stream));
    };
  }

  /** A whole GetMedian answer: headers, one length-prefixed message, grpc-status 0. */
  private static Reply answer(GetMedianResponse response) {
    return (ctx, stream) -> {
      byte[] message = response.toByteArray();
      ByteBuffer framed = ByteBuffer.allocate(5 + message.length);
      framed.put((byte) 0).putInt(message.length).put(message).flip();
      ctx.write(new DefaultHttp2HeadersFrame(responseHeaders()).stream(stream));
      ctx.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(framed)).stream(stream));
      ctx.writeAndFlush(
          new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().add("grpc-status", "0"), true)
              .stream(stream));
    };
  }

  /** The server's own INTERNAL (trailers-only), in the very words of the transport's reset. */
  private static Reply serverInternal() {
    return (ctx, stream) ->
        ctx.writeAndFlush(
            new DefaultHttp2HeadersFrame(
                    responseHeaders().add("grpc-status", "13").add("grpc-message", WORDS), true)
                .stream(stream));
  }

  private static DefaultHttp2Headers responseHeaders() {
    DefaultHttp2Headers headers = new DefaultHttp2Headers();
    headers.status("200").add("content-type", "application/grpc");
    return headers;
  }

  private static MedianClient client(int port) {
    return MedianClient.forTarget("127.0.0.1:" + port).retryFor(Duration.ofSeconds(30)).build();
  }

  @Test
  void aStreamResetByTheProxyIsRetried() {
    GetMedianResponse median =
        GetMedianResponse.newBuilder().setSessionId("s").setNumberCount(3).setMedian(2).build();
    int port = peer(n -> n == 1 ? reset() : answer(median));
    try (MedianClient client = client(port)) {
      assertEquals(new MedianResult("s", 3, 2.0), client.getMedian("s"));
    }
    assertEquals(2, streams.get());
  }

  @Test
  void aStreamResetIsThrownAsTheTransportsInternalWhenNotResuming() {
    int port = peer(n -> reset());
    try (MedianClient client =
        MedianClient.forTarget("127.0.0.1:" + port).retryFor(Duration.ZERO).build()) {
      MedianException e = assertThrows(MedianException.class, () -> client.getMedian("s"));
      assertEquals(Status.Code.INTERNAL, e.getCode());
      assertEquals(WORDS, e.getDescription());
    }
    assertEquals(1, streams.get());
  }

  @Test
  void anInternalTheServerSentIsNotRetriedEvenInTheTransportsWords() {
    int port = peer(n -> serverInternal());
    try (MedianClient client = client(port)) {
      MedianException e = assertThrows(MedianException.class, () -> client.getMedian("s"));
      assertEquals(Status.Code.INTERNAL, e.getCode());
      assertEquals(WORDS, e.getDescription());
      assertFalse(ResumableStream.isRetryable(Status.fromThrowable(e.getCause())));
    }
    assertEquals(1, streams.get());
  }
}
