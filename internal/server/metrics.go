package server

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/duplex-ws/duplex/hub"
	"github.com/duplex-ws/duplex/ws"
)

// endpoint is a WebSocket endpoint, the "endpoint" label of the metrics.
type endpoint int

const (
	endpointEcho endpoint = iota
	endpointChat
	numEndpoints
)

func (e endpoint) String() string {
	if e == endpointChat {
		return "chat"
	}
	return "echo"
}

// rejection is why a WebSocket request was refused before its upgrade, the "reason" label
// of duplex_upgrades_rejected_total.
type rejection string

const (
	rejectMaxConnections      rejection = "max_connections"        // 503
	rejectMaxConnectionsPerIP rejection = "max_connections_per_ip" // 503
	rejectShuttingDown        rejection = "shutting_down"          // 503
	rejectBadRequest          rejection = "bad_request"            // 400: room or name
	rejectNameTaken           rejection = "name_taken"             // 409
	rejectOrigin              rejection = "origin"                 // 403, by ws.Accept
	rejectHandshake           rejection = "handshake"              // not a valid handshake, by ws.Accept
)

// metrics are the server's Prometheus metrics, in a registry of their own.
type metrics struct {
	registry  *prometheus.Registry
	endpoints [numEndpoints]endpointMetrics
	rejected  *prometheus.CounterVec
	echoSlow  atomic.Uint64 // echo connections dropped as slow consumers
}

// endpointMetrics are the metrics of one endpoint, resolved once.
type endpointMetrics struct {
	open                    prometheus.Gauge
	total                   prometheus.Counter
	messagesIn, messagesOut prometheus.Counter
	bytesIn, bytesOut       prometheus.Counter
}

func newMetrics(h *hub.Hub) *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	byEndpoint := []string{"endpoint"}
	open := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "duplex_connections_open",
		Help: "WebSocket connections open.",
	}, byEndpoint)
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duplex_connections_total",
		Help: "WebSocket connections upgraded.",
	}, byEndpoint)
	messagesIn := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duplex_messages_received_total",
		Help: "WebSocket messages received from clients.",
	}, byEndpoint)
	messagesOut := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duplex_messages_sent_total",
		Help: "WebSocket messages sent to clients.",
	}, byEndpoint)
	bytesIn := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duplex_received_bytes_total",
		Help: "Payload bytes of the WebSocket messages received.",
	}, byEndpoint)
	bytesOut := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duplex_sent_bytes_total",
		Help: "Payload bytes of the WebSocket messages sent.",
	}, byEndpoint)
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duplex_upgrades_rejected_total",
		Help: "WebSocket requests refused before the upgrade, by reason.",
	}, []string{"reason"})
	for _, r := range []rejection{
		rejectMaxConnections, rejectMaxConnectionsPerIP, rejectShuttingDown,
		rejectBadRequest, rejectNameTaken, rejectOrigin, rejectHandshake,
	} {
		m.rejected.WithLabelValues(string(r)) // present, at zero, before the first
	}
	for e := range numEndpoints {
		label := e.String()
		m.endpoints[e] = endpointMetrics{
			open:        open.WithLabelValues(label),
			total:       total.WithLabelValues(label),
			messagesIn:  messagesIn.WithLabelValues(label),
			messagesOut: messagesOut.WithLabelValues(label),
			bytesIn:     bytesIn.WithLabelValues(label),
			bytesOut:    bytesOut.WithLabelValues(label),
		}
	}

	slowHelp := "Connections dropped because they could not keep up (closed with 1008 \"slow consumer\")."
	m.registry.MustRegister(
		open, total, messagesIn, messagesOut, bytesIn, bytesOut, m.rejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "duplex_chat_rooms",
			Help: "Chat rooms with at least one member.",
		}, func() float64 { return float64(h.Stats().Rooms) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "duplex_chat_members",
			Help: "Chat members, in all rooms.",
		}, func() float64 { return float64(h.Stats().Members) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "duplex_slow_consumers_total",
			Help:        slowHelp,
			ConstLabels: prometheus.Labels{"endpoint": endpointChat.String()},
		}, func() float64 { return float64(h.Stats().SlowConsumers) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "duplex_slow_consumers_total",
			Help:        slowHelp,
			ConstLabels: prometheus.Labels{"endpoint": endpointEcho.String()},
		}, func() float64 { return float64(m.echoSlow.Load()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// handler serves the metrics in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

func (m *metrics) reject(r rejection) { m.rejected.WithLabelValues(string(r)).Inc() }

// received counts a message received on endpoint e.
func (m *metrics) received(e endpoint, n int) {
	m.endpoints[e].messagesIn.Inc()
	m.endpoints[e].bytesIn.Add(float64(n))
}

// sent counts a message sent on endpoint e.
func (m *metrics) sent(e endpoint, n int) {
	m.endpoints[e].messagesOut.Inc()
	m.endpoints[e].bytesOut.Add(float64(n))
}

// opened counts a connection upgraded on endpoint e and returns the function that counts
// its end.
func (m *metrics) opened(e endpoint) (closed func()) {
	m.endpoints[e].total.Inc()
	m.endpoints[e].open.Inc()
	return m.endpoints[e].open.Dec
}

// countedConn is a chat connection as the hub sees it: what the hub writes is counted.
type countedConn struct {
	*ws.Conn
	metrics *metrics
}

func (c countedConn) WritePrepared(ctx context.Context, pm *ws.PreparedMessage) error {
	err := c.Conn.WritePrepared(ctx, pm)
	if err == nil {
		c.metrics.sent(endpointChat, len(pm.Data()))
	}
	return err
}
