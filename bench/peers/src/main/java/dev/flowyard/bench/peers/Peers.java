package dev.flowyard.bench.peers;

import io.confluent.parallelconsumer.ParallelConsumerOptions;
import io.confluent.parallelconsumer.ParallelConsumerOptions.ProcessingOrder;
import io.confluent.parallelconsumer.ParallelStreamProcessor;
import io.confluent.parallelconsumer.internal.DrainingCloseable;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The Java peers of flowyard's benchmark (bench/README.md "Peers"), one process per run, started
 * by bench/suite.mjs:
 *
 * <pre>
 *   java -cp ... dev.flowyard.bench.peers.Peers copy    bootstrap=H:P source=T group=G outputs=A,B,C [compression=lz4]
 *   java -cp ... dev.flowyard.bench.peers.Peers streams bootstrap=H:P source=T group=G outputs=A,B,C guarantee=at_least_once|exactly_once_v2 stateDir=D [compression=lz4] [threads=1]
 *   java -cp ... dev.flowyard.bench.peers.Peers pc      bootstrap=H:P source=T group=G url=http://... concurrency=64
 * </pre>
 *
 * {@code pc} (figure 9) is Confluent Parallel Consumer in KEY ordering: each record's value is
 * POSTed to {@code url} with the JDK's HTTP client, at most {@code concurrency} at a time; it
 * prints {@code READY} once it polls, and the suite counts its requests at the HTTP server.
 *
 * Each prints {@code READY} on stdout once it consumes (the copy: partitions assigned; Streams:
 * state RUNNING; Streams also prints {@code FIRST} at its first record, which can come before RUNNING), reads from the earliest offset, copies every record's key and value to each
 * output topic, and runs until SIGTERM, when it closes its clients and prints {@code STOPPED}.
 * The suite decides when a run is done from the broker (committed offsets, watermarks), so the
 * peers count nothing themselves. Client settings are the library defaults except the codec
 * (flowyard's default, lz4, so every system compresses the same way), reading from the start, and
 * Streams' {@code threads} (num.stream.threads, default 1).
 */
public final class Peers {
  private Peers() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) usage("no mode given");
    Map<String, String> options = new HashMap<>();
    for (int i = 1; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      if (eq <= 0) usage("argument '" + args[i] + "' is not key=value");
      options.put(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    switch (args[0]) {
      case "copy" -> copy(options);
      case "streams" -> streams(options);
      case "pc" -> parallelConsumer(options);
      default -> usage("unknown mode '" + args[0] + "'");
    }
  }

  private static void usage(String why) {
    System.err.println("peers: " + why + "; usage: Peers copy|streams|pc bootstrap=H:P source=T group=G outputs=A,B,C [guarantee=at_least_once|exactly_once_v2 stateDir=D] [compression=lz4] | [url=U concurrency=N]");
    System.exit(2);
  }

  private static String required(Map<String, String> options, String key) {
    String value = options.get(key);
    if (value == null || value.isEmpty()) usage("missing " + key + "=");
    return value;
  }

  private static void say(String line) {
    System.out.println(line);
    System.out.flush();
  }

  /** How often the copy flushes and commits: Kafka Streams' commit interval under exactly_once_v2. */
  private static final long COPY_COMMIT_INTERVAL_MS = 100;

  /**
   * The ceiling: poll, send each record to every output without waiting, and every 100 ms flush
   * the producer and commit what was consumed; nothing else. At least once (a crash between
   * flush and commit copies those records again), no transactions, no headers.
   */
  private static void copy(Map<String, String> options) throws InterruptedException {
    String bootstrap = required(options, "bootstrap");
    String source = required(options, "source");
    List<String> outputs = List.of(required(options, "outputs").split(","));

    Properties consumerProps = new Properties();
    consumerProps.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    consumerProps.put(ConsumerConfig.GROUP_ID_CONFIG, required(options, "group"));
    consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    Properties producerProps = new Properties();
    producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    producerProps.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, options.getOrDefault("compression", "lz4"));

    AtomicBoolean running = new AtomicBoolean(true);
    CountDownLatch closed = new CountDownLatch(1);
    AtomicReference<Exception> failed = new AtomicReference<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProps, new ByteArrayDeserializer(), new ByteArrayDeserializer());
         KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps, new ByteArraySerializer(), new ByteArraySerializer())) {
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        running.set(false);
        consumer.wakeup();
        try {
          closed.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }));
      AtomicBoolean announced = new AtomicBoolean(false);
      consumer.subscribe(List.of(source), new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {}

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
          if (!partitions.isEmpty() && announced.compareAndSet(false, true)) say("READY");
        }
      });
      long lastCommit = System.currentTimeMillis();
      boolean uncommitted = false;
      while (running.get()) {
        ConsumerRecords<byte[], byte[]> records;
        try {
          records = consumer.poll(Duration.ofMillis(100));
        } catch (WakeupException e) {
          break;
        }
        for (ConsumerRecord<byte[], byte[]> record : records) {
          for (String output : outputs) {
            producer.send(new ProducerRecord<>(output, record.key(), record.value()), (metadata, error) -> {
              if (error != null) failed.compareAndSet(null, error);
            });
          }
        }
        uncommitted |= !records.isEmpty();
        if (uncommitted && System.currentTimeMillis() - lastCommit >= COPY_COMMIT_INTERVAL_MS) {
          // flush() returns once every send completed; a failed one must not be committed past.
          producer.flush();
          if (failed.get() != null) throw new IllegalStateException("produce failed; not committing", failed.get());
          consumer.commitSync();
          lastCommit = System.currentTimeMillis();
          uncommitted = false;
        }
      }
    } finally {
      say("STOPPED");
      closed.countDown();
    }
  }

  /** Kafka Streams: the source stream written to each output topic, with the given processing guarantee. */
  private static void streams(Map<String, String> options) throws InterruptedException {
    String guarantee = required(options, "guarantee");
    if (!guarantee.equals(StreamsConfig.AT_LEAST_ONCE) && !guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2)) {
      usage("guarantee must be " + StreamsConfig.AT_LEAST_ONCE + " or " + StreamsConfig.EXACTLY_ONCE_V2 + ", not '" + guarantee + "'");
    }
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, required(options, "group"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, required(options, "bootstrap"));
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
    props.put(StreamsConfig.STATE_DIR_CONFIG, required(options, "stateDir"));
    // num.stream.threads: 1 is Kafka Streams' default; the suite also runs 2 (one per core of the
    // bench box) next to flowyard's one process per role and destination (bench/README.md).
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(options.getOrDefault("threads", "1")));
    props.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), options.getOrDefault("compression", "lz4"));
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    // Streams does not leave its group on close (it expects to come back); the bench deletes the
    // group right after a run, which the broker refuses while the member waits out its session.
    props.put(StreamsConfig.consumerPrefix("internal.leave.group.on.close"), true);

    StreamsBuilder builder = new StreamsBuilder();
    // FIRST when the first record is processed: with more than one stream thread, a thread that
    // got its tasks works while the client is still REBALANCING (RUNNING waits for every thread),
    // so the suite's clock starts at whichever of READY and FIRST comes first.
    AtomicBoolean first = new AtomicBoolean(false);
    KStream<byte[], byte[]> stream = builder.stream(required(options, "source"), Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
        .peek((key, value) -> {
          if (!first.get() && first.compareAndSet(false, true)) say("FIRST");
        });
    for (String output : required(options, "outputs").split(",")) stream.to(output, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));

    CountDownLatch done = new CountDownLatch(1);
    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    AtomicBoolean announced = new AtomicBoolean(false);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING && announced.compareAndSet(false, true)) say("READY");
      if (now == KafkaStreams.State.ERROR) {
        System.err.println("peers: Kafka Streams went to ERROR");
        done.countDown();
      }
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(20));
      say("STOPPED");
      done.countDown();
    }));
    streams.start();
    done.await();
    if (streams.state() == KafkaStreams.State.ERROR) System.exit(1);
  }

  /**
   * Confluent Parallel Consumer: KEY ordering (records of one key one at a time, in offset order;
   * different keys in parallel), {@code concurrency} records in flight, each POSTed to the URL
   * with java.net.http's client (HTTP/1.1 keep-alive, as flowyard's undici pool). A non-2xx
   * answer throws, so PC retries the record, as flowyard's http sink retries 5xx. Library
   * defaults otherwise (commit mode PERIODIC_CONSUMER_ASYNCHRONOUS).
   */
  private static void parallelConsumer(Map<String, String> options) throws InterruptedException {
    URI url = URI.create(required(options, "url"));
    int concurrency = Integer.parseInt(required(options, "concurrency"));
    Properties consumerProps = new Properties();
    consumerProps.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, required(options, "bootstrap"));
    consumerProps.put(ConsumerConfig.GROUP_ID_CONFIG, required(options, "group"));
    consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    // PC commits itself; it refuses a consumer that auto-commits.
    consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProps, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    ParallelConsumerOptions<byte[], byte[]> pcOptions = ParallelConsumerOptions.<byte[], byte[]>builder()
        .ordering(ProcessingOrder.KEY)
        .maxConcurrency(concurrency)
        .consumer(consumer)
        .build();
    ParallelStreamProcessor<byte[], byte[]> processor = ParallelStreamProcessor.createEosStreamProcessor(pcOptions);
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      // The suite stops it after counting; what is still queued need not be sent.
      processor.close(Duration.ofSeconds(20), DrainingCloseable.DrainingMode.DONT_DRAIN);
      say("STOPPED");
      done.countDown();
    }));
    processor.subscribe(List.of(required(options, "source")));
    processor.poll(context -> {
      HttpRequest request = HttpRequest.newBuilder(url)
          .timeout(Duration.ofSeconds(10))
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofByteArray(context.getSingleConsumerRecord().value()))
          .build();
      try {
        HttpResponse<Void> response = http.send(request, HttpResponse.BodyHandlers.discarding());
        if (response.statusCode() / 100 != 2) throw new IllegalStateException("HTTP " + response.statusCode() + " from " + url);
      } catch (IOException e) {
        throw new IllegalStateException("POST to " + url + " failed", e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted", e);
      }
    });
    say("READY");
    done.await();
  }
}
