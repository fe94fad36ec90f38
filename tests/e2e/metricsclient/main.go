// Command metricsclient lists NodeMetrics and PodMetrics through client-go's typed clientset
// (k8s.io/metrics/pkg/client/clientset/versioned), the client the HPA controller and kubectl
// use, asking for JSON or for protobuf only. It prints one JSON line per node and per pod
// container with every usage entry the clientset decoded (as the quantity's text and its
// value), then one line with the Content-Types of the responses, so a caller can check what
// was negotiated. It exits non-zero on any error.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/metrics/pkg/client/clientset/versioned"
)

// line is one decoded item.
type line struct {
	API       string            `json:"api"`
	Kind      string            `json:"kind"`
	Namespace string            `json:"namespace,omitempty"`
	Name      string            `json:"name"`
	Container string            `json:"container,omitempty"`
	Usage     map[string]string `json:"usage"`
	Values    map[string]int64  `json:"values"`
}

// contentTypes records the Content-Type of every response.
type contentTypes struct {
	mu    sync.Mutex
	seen  map[string]bool
	inner http.RoundTripper
}

func (c *contentTypes) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.inner.RoundTrip(req)
	if err == nil {
		c.mu.Lock()
		c.seen[resp.Header.Get("Content-Type")] = true
		c.mu.Unlock()
	}
	return resp, err
}

func usage(list corev1.ResourceList) (map[string]string, map[string]int64) {
	text := map[string]string{}
	values := map[string]int64{}
	for name, q := range list {
		text[string(name)] = q.String()
		if name == corev1.ResourceCPU {
			values[string(name)] = q.MilliValue()
		} else {
			values[string(name)] = q.Value()
		}
	}
	return text, values
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of a user who may read metrics.k8s.io")
	protobuf := flag.Bool("protobuf", false, "ask for application/vnd.kubernetes.protobuf only")
	namespace := flag.String("namespace", "", "namespace of the pods (all when empty)")
	flag.Parse()
	if err := run(*kubeconfig, *protobuf, *namespace); err != nil {
		fmt.Fprintln(os.Stderr, "metricsclient:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string, protobuf bool, namespace string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	if protobuf {
		cfg.ContentType = "application/vnd.kubernetes.protobuf"
		cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	} else {
		cfg.ContentType = "application/json"
		cfg.AcceptContentTypes = "application/json"
	}
	seen := &contentTypes{seen: map[string]bool{}}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		seen.inner = rt
		return seen
	}
	cfg.Timeout = 20 * time.Second
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := json.NewEncoder(os.Stdout)

	nodes, err := client.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("v1beta1 nodes: %w", err)
	}
	for _, n := range nodes.Items {
		text, values := usage(n.Usage)
		if err := out.Encode(line{"v1beta1", "NodeMetrics", "", n.Name, "", text, values}); err != nil {
			return err
		}
	}
	pods, err := client.MetricsV1beta1().PodMetricses(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("v1beta1 pods: %w", err)
	}
	for _, p := range pods.Items {
		for _, c := range p.Containers {
			text, values := usage(c.Usage)
			l := line{"v1beta1", "PodMetrics", p.Namespace, p.Name, c.Name, text, values}
			if err := out.Encode(l); err != nil {
				return err
			}
		}
	}
	nodesV1, err := client.MetricsV1().NodeMetricses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("v1 nodes: %w", err)
	}
	for _, n := range nodesV1.Items {
		text, values := usage(n.Usage)
		if err := out.Encode(line{"v1", "NodeMetrics", "", n.Name, "", text, values}); err != nil {
			return err
		}
	}
	podsV1, err := client.MetricsV1().PodMetricses(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("v1 pods: %w", err)
	}
	for _, p := range podsV1.Items {
		for _, c := range p.Containers {
			text, values := usage(c.Usage)
			l := line{"v1", "PodMetrics", p.Namespace, p.Name, c.Name, text, values}
			if err := out.Encode(l); err != nil {
				return err
			}
		}
	}
	types := make([]string, 0, len(seen.seen))
	for t := range seen.seen {
		types = append(types, t)
	}
	sort.Strings(types)
	return out.Encode(map[string][]string{"contentTypes": types})
}
