package demo

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/edgespool/edgespool/sim/linkcut"
	"github.com/edgespool/edgespool/sim/servers"
)

// kafka is an in-process kfake cluster whose only broker advertises the
// address of a cuttable link in front of it, so that every client
// connection, metadata-directed ones included, crosses the link.
type kafka struct {
	c    *kfake.Cluster
	link *linkcut.Proxy
}

func startKafka(log *slog.Logger, topics ...string) (*kafka, error) {
	k := &kafka{}
	listen := func(network, addr string) (net.Listener, error) {
		ln, err := net.Listen(network, addr)
		if err != nil {
			return nil, err
		}
		if k.link, err = linkcut.New("127.0.0.1:0", ln.Addr().String(), linkcut.Options{Logger: log}); err != nil {
			ln.Close()
			return nil, err
		}
		return servers.AdvertListener{Listener: ln, Advert: k.link.Addr()}, nil
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...), kfake.ListenFn(listen))
	if err != nil {
		if k.link != nil {
			k.link.Close()
		}
		return nil, fmt.Errorf("kafka: %w", err)
	}
	k.c = c
	return k, nil
}

func (k *kafka) close() {
	k.c.Close()
	k.link.Close()
}
