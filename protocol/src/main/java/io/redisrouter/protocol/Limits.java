package io.redisrouter.protocol;

/**
 * Size limits applied to published messages.
 *
 * @param maxPayloadBytes largest payload accepted
 * @param maxHeaders      most headers per message
 * @param maxHeaderBytes  largest total size of header names plus values, in UTF-8 bytes
 */
public record Limits(int maxPayloadBytes, int maxHeaders, int maxHeaderBytes) {
  public static final int DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
  public static final int DEFAULT_MAX_HEADERS = 32;
  public static final int DEFAULT_MAX_HEADER_BYTES = 8 * 1024;
  public static final Limits DEFAULT = new Limits(DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_MAX_HEADERS,
      DEFAULT_MAX_HEADER_BYTES);

  public Limits {
    if (maxPayloadBytes <= 0 || maxHeaders < 0 || maxHeaderBytes < 0) {
      throw new IllegalArgumentException(
          "limits must be positive: " + maxPayloadBytes + ", " + maxHeaders + ", " + maxHeaderBytes);
    }
  }
}
