/**
 * How the client connects and who it says it is: TLS settings and the bearer token.
 *
 * Over TLS the token travels as call credentials, which grpc-js attaches to every call and never
 * sends over plaintext. grpc-js refuses call credentials on a plaintext channel, so there the
 * client puts `authorization: Bearer <token>` into each call's metadata itself.
 */
import * as grpc from "@grpc/grpc-js";

/** The metadata key of the bearer token. */
export const AUTHORIZATION = "authorization";

/** A header value: printable ASCII without spaces. */
const TOKEN = /^[\x21-\x7e]+$/;

/**
 * TLS settings (PEM, as a `Buffer` or a string). With none of them set, `tls: {}` trusts the
 * system's root certificates (Node.js's bundled CA store).
 */
export interface TlsOptions {
  /** The CA certificates that signed the server's certificate; default: the system's roots. */
  readonly ca?: Buffer | string;
  /** A client certificate chain, for servers that require mutual TLS; needs `key`. */
  readonly cert?: Buffer | string;
  /** The private key of `cert`. */
  readonly key?: Buffer | string;
}

/** What a client needs to open its channel and to fill in each call's metadata. */
export interface Security {
  readonly channelCredentials: grpc.ChannelCredentials;
  /** Entries to add to every call's metadata (the token on a plaintext channel). */
  readonly callMetadata: ReadonlyArray<readonly [string, string]>;
}

/** Throws a `TypeError` unless `token` can travel as a header value; never shows the token. */
export function checkToken(token: string): string {
  if (!TOKEN.test(token)) {
    throw new TypeError(
      "the token must be one or more printable ASCII characters without spaces " +
        "(check for a stray newline or quote around it)",
    );
  }
  return token;
}

function asBuffer(pem: Buffer | string | undefined): Buffer | null {
  if (pem === undefined) {
    return null;
  }
  return typeof pem === "string" ? Buffer.from(pem) : pem;
}

/**
 * The channel credentials and per-call metadata for `tls` (undefined: plaintext) and `token`
 * (undefined: none). Throws a `TypeError` for a certificate without its key or the reverse.
 */
export function security(tls: TlsOptions | undefined, token: string | undefined): Security {
  if (token !== undefined) {
    checkToken(token);
  }
  if (tls === undefined) {
    const callMetadata: Array<readonly [string, string]> = [];
    if (token !== undefined) {
      callMetadata.push([AUTHORIZATION, `Bearer ${token}`]);
    }
    return { channelCredentials: grpc.credentials.createInsecure(), callMetadata };
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TypeError("tls.cert and tls.key go together: the client certificate and its key");
  }
  const ssl = grpc.credentials.createSsl(asBuffer(tls.ca), asBuffer(tls.key), asBuffer(tls.cert));
  if (token === undefined) {
    return { channelCredentials: ssl, callMetadata: [] };
  }
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.set(AUTHORIZATION, `Bearer ${token}`);
    callback(null, metadata);
  });
  return {
    channelCredentials: grpc.credentials.combineChannelCredentials(ssl, bearer),
    callMetadata: [],
  };
}
