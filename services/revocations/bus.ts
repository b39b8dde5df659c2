// Our own small message-bus interface. The publisher speaks only this; the kafkajs adapter lives in
// kafka-sink.ts so no kafkajs type leaks and the client library can be swapped without touching the publisher.

export interface OutgoingMessage {
  readonly topic: string;
  /** Partitioning key: messages with the same key keep their order. */
  readonly key: string;
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface TopicSpec {
  readonly name: string;
  /** Log compaction by key (the latest message per key is kept forever). */
  readonly compact?: boolean;
}

export interface MessageSink {
  /** Connects (and makes sure the topics exist). Safe to call again after reset(). */
  connect(): Promise<void>;
  /**
   * Writes the messages, in order, and resolves only once every one is acknowledged by all in-sync replicas.
   * On rejection, any prefix of the batch may have been written: the caller re-sends the whole batch.
   */
  send(messages: readonly OutgoingMessage[]): Promise<void>;
  /** Drops the connection after a failure; the next connect() starts a fresh producer session. */
  reset(): Promise<void>;
  close(): Promise<void>;
}
