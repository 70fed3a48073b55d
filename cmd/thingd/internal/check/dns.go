package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// dnsStep resolves the endpoint, or the proxy when there is one: the proxy resolves the
// endpoint itself, and the device may not even be able to.
func (r *runner) dnsStep(ctx context.Context) Result {
	host, what := r.cfg.MQTT.Endpoint, "mqtt.endpoint"
	if p := r.cfg.MQTT.Proxy; p != "" {
		u, err := url.Parse(p)
		if err != nil {
			return fail("dns", fmt.Sprintf("mqtt.proxy %q: %v", redact(p), err), `write it as "http://host:port"`, nil)
		}
		host, what = u.Hostname(), "mqtt.proxy"
	}
	data := map[string]any{"host": host}
	if _, err := netip.ParseAddr(host); err == nil {
		r.dnsOK = true
		return pass("dns", host+" is an IP address: nothing to resolve", data)
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	addrs, err := r.o.LookupHost(ctx, host)
	if err != nil {
		fix := "check the DNS servers in /etc/resolv.conf and the network connection"
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			fix = "check " + what + " for typos"
			if what == "mqtt.endpoint" {
				fix += ": it is the device data endpoint in the AWS IoT console (Settings)"
			}
		}
		return fail("dns", fmt.Sprintf("resolve %s (%s): %v", host, what, err), fix, data)
	}
	r.dnsOK = true
	data["addresses"] = addrs
	detail := fmt.Sprintf("%s resolves to %s", host, strings.Join(addrs, ", "))
	if what == "mqtt.proxy" {
		detail += " (the proxy resolves " + r.cfg.MQTT.Endpoint + ")"
	}
	return pass("dns", detail, data)
}
