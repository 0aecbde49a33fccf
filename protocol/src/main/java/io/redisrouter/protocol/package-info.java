/**
 * The router's public messages, with no dependency on Pekko or Redis: what an embedding application sends
 * ({@link io.redisrouter.protocol.RouterCommand}: publish, subscribe) and receives ({@link
 * io.redisrouter.protocol.PublishReply}, {@link io.redisrouter.protocol.Delivery}, {@link
 * io.redisrouter.protocol.DeadLetter}), the message itself ({@link io.redisrouter.protocol.Envelope}, stored through
 * {@link io.redisrouter.protocol.EnvelopeCodec}) and the input checks ({@link io.redisrouter.protocol.Validation}).
 */
package io.redisrouter.protocol;
