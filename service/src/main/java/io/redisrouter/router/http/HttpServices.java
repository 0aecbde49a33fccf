package io.redisrouter.router.http;

import io.redisrouter.router.admin.ChannelAdmin;
import io.redisrouter.router.admin.ClusterAdmin;
import io.redisrouter.router.admin.DeadLetterAdmin;
import io.redisrouter.router.consume.PullService;
import io.redisrouter.router.consume.SubscriptionAdmin;

/** The services the routes call; built by the composition root ({@code RouterService}). */
public record HttpServices(SubscriptionAdmin subscriptions, PullService pulls, ChannelAdmin channels,
    DeadLetterAdmin deadLetters, ClusterAdmin cluster) {}
