package testenv

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgespool/edgespool/sim/servers"
)

// KafkaCluster is an in-process Kafka wire-protocol cluster (franz-go
// kfake) on free loopback ports, persisted in a temporary directory so that
// Restart keeps every record. Tests read records back with franz-go's kgo,
// a client independent of the agent's kafka-go.
type KafkaCluster struct {
	// Addrs are the bootstrap addresses clients should dial (the proxy
	// addresses when the cluster sits behind Toxiproxy).
	Addrs []string

	t       testing.TB
	opts    []kfake.Opt
	ports   []int    // where kfake really listens
	adverts []string // what kfake advertises in metadata
	c       *kfake.Cluster
}

// KafkaOption configures Kafka.
type KafkaOption func(*kafkaConfig)

type kafkaConfig struct {
	brokers int
	proxy   *Toxi
	opts    []kfake.Opt
}

// KafkaBrokers sets the number of brokers (default 1).
func KafkaBrokers(n int) KafkaOption { return func(c *kafkaConfig) { c.brokers = n } }

// KafkaBehind puts every broker behind its own Toxiproxy proxy and makes
// the brokers advertise the proxy addresses, so that all client traffic,
// metadata-directed reconnects included, crosses the proxies. The proxies
// are named kafka0, kafka1, ...
func KafkaBehind(p *Toxi) KafkaOption { return func(c *kafkaConfig) { c.proxy = p } }

// KafkaOpts passes options to kfake (SASL users, TLS, seed topics...).
func KafkaOpts(o ...kfake.Opt) KafkaOption {
	return func(c *kafkaConfig) { c.opts = append(c.opts, o...) }
}

// Kafka starts a kfake cluster with auto topic creation (3 partitions per
// topic) and stops it when the test ends.
func Kafka(t testing.TB, options ...KafkaOption) *KafkaCluster {
	t.Helper()
	cfg := kafkaConfig{brokers: 1}
	for _, o := range options {
		o(&cfg)
	}
	k := &KafkaCluster{t: t}
	for i := 0; i < cfg.brokers; i++ {
		port := FreePort(t)
		k.ports = append(k.ports, port)
		advert := hostPort(port)
		if cfg.proxy != nil {
			advert = cfg.proxy.Proxy(t, "kafka"+string(rune('0'+i)), advert).Listen
		}
		k.adverts = append(k.adverts, advert)
	}
	k.Addrs = k.adverts
	k.opts = append([]kfake.Opt{
		kfake.NumBrokers(cfg.brokers),
		kfake.Ports(k.ports...),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(3),
		kfake.DataDir(t.TempDir()),
		kfake.ListenFn(k.listen),
	}, cfg.opts...)
	k.Start()
	t.Cleanup(k.Stop)
	return k
}

// listen listens on the real port and reports the advertised address.
func (k *KafkaCluster) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(address)
	for i, p := range k.ports {
		if hostPort(p) == net.JoinHostPort("127.0.0.1", port) && k.adverts[i] != hostPort(p) {
			return servers.AdvertListener{Listener: ln, Advert: k.adverts[i]}, nil
		}
	}
	return ln, nil
}

// Start (re)starts the cluster on the same ports with its persisted data.
func (k *KafkaCluster) Start() {
	k.t.Helper()
	if k.c != nil {
		return
	}
	var err error
	for try := 0; try < 50; try++ { // a restarted port may linger briefly
		if k.c, err = kfake.NewCluster(k.opts...); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	k.t.Fatalf("kfake: %v", err)
}

// Stop stops the cluster; its data stays for Start.
func (k *KafkaCluster) Stop() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// Cluster returns the running kfake cluster (nil when stopped).
func (k *KafkaCluster) Cluster() *kfake.Cluster { return k.c }

// Client returns a kgo client for the cluster, closed when the test ends.
func (k *KafkaCluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Addrs...)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Consume reads every record of topic from the start up to the end offsets
// that hold when it is called, in partition order. It returns nil when the
// topic does not exist.
func (k *KafkaCluster) Consume(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(k.Client(t))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			want += o.Offset
		}
	})
	if want == 0 {
		return nil
	}
	cl := k.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var recs []*kgo.Record
	for int64(len(recs)) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s: got %d of %d records: %v", topic, len(recs), want, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("consume %s: %v", topic, err) })
		recs = append(recs, fs.Records()...)
	}
	return recs
}
